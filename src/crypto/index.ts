export { Keyring, isSealed } from "./sealed.js";
