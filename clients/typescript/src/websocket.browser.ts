// Browsers (and Deno, Bun, Node 22+): the platform's WebSocket.
const Impl: unknown = globalThis.WebSocket;
export default Impl;
