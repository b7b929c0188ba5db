import { jsonProtocol } from "./json-protocol.js";
import type { HubProtocol, ProtocolName } from "./messages.js";
import { messagePackProtocol } from "./messagepack-protocol.js";

export function getProtocol(name: ProtocolName): HubProtocol {
  return name === "json" ? jsonProtocol : messagePackProtocol;
}
