import { MemoryNotificationStore } from "@tidings/contracts";
import { STORE_T0 } from "../store-fixtures.js";
import { describeStoreConformance } from "./store.js";

describeStoreConformance("MemoryNotificationStore", async () => {
  const store = new MemoryNotificationStore({ clock: () => STORE_T0 });
  return { store, reset: async () => store.clear(), close: async () => {} };
});
