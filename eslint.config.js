// @ts-check
import { createNodeResolver, importX } from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["**/node_modules/**", "**/dist/**", "**/.turbo/**", "bench/results/**", "load/**", "charts/**"] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      // One program for every workspace package (what `pnpm typecheck` checks), not one per package:
      // the packages import each other's sources, so per-package programs type the same files again.
      parserOptions: {
        project: ["./tsconfig.check.json", "./apps/inbox/tsconfig.json", "./compat/tsconfig.json"],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { "import-x": importX },
    settings: {
      "import-x/extensions": [".ts", ".js"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
      // Sources import `./x.js` for `./x.ts` (NodeNext); workspace packages export their `src/index.ts`.
      "import-x/resolver-next": [createNodeResolver({ extensions: [".ts", ".js"], extensionAlias: { ".js": [".ts", ".js"] } })],
    },
    rules: {
      // A cycle means two modules are one design split in two files; type-only imports are not followed.
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/require-await": "off",
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@tidings/*/src/*", "../../services/*", "../../packages/*"],
              message: "Import packages by name; services never import each other.",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.test.ts", "**/test/**/*.ts"],
    rules: { "@typescript-eslint/no-unsafe-member-access": "off", "@typescript-eslint/no-unsafe-assignment": "off" },
  },
  { files: ["eslint.config.js", "**/vitest.config.ts", "scripts/**/*.mjs", "**/scripts/*.mjs"], ...tseslint.configs.disableTypeChecked },
);
