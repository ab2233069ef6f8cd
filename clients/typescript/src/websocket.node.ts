// Node: its global WebSocket where there is one (22+), else the npm `ws` package (Node 20).
import WS from "ws";

const Impl: unknown = globalThis.WebSocket ?? WS;
export default Impl;
