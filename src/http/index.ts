export { requestLine, responseStatus, elapsedMs, type RequestLine } from "./request-line.js";
