export { generateKey, parseKey, digestKey, matchesDigest } from "./key-format.js";
export {
  KeyStore,
  publicKey,
  maskPolicies,
  type KeyRecord,
  type KeyLimits,
  type MaskPolicy,
  type NewKey,
  type ReplicatedKey,
} from "./key-store.js";
export { roles, isRole, can, type Role, type Permission } from "./roles.js";
export { Authenticator, presentedKey } from "./authenticator.js";
export { authHook, installAuth, type AuthHookOptions } from "./hook.js";
export { installModelGuard, keyAllowsModel, modelGuardHook } from "./model-guard.js";
export { toNewKey, parseExpiry, newKeySchema, UNPRINTABLE, type NewKeyInput } from "./key-input.js";
