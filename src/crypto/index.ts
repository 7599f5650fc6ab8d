export { Keyring, isSealed } from "./sealed.js";
export {
  resealAll,
  type ResealCheckpoint,
  type ResealCounts,
  type ResealOptions,
  type ResealState,
  type SealedCollection,
  type SealedItem,
} from "./reseal.js";
