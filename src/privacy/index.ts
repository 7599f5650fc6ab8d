export { luhnValid, prcIdValid } from "./checks.js";
export { findPii, type PiiKind, type Span } from "./recognizers.js";
export { maskText, maskValue, MaskVault } from "./masker.js";
export { MaskingFilter, RestoringFilter, type TextFilter } from "./text-filter.js";
export { privacyHook, installPrivacy } from "./hook.js";
