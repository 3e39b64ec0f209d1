/** Synthetic Polyvore-U benchmark with ground truth (method.md §6.3): generator and oracle. */
export { generateSynthetic, type ImageChoice, type SetReport, type SynthOptions, type SynthReport } from './generate.js';
export { loadFalseNegativeFlags, loadOracle, type Oracle } from './oracle.js';
export { DEFAULT_KNOBS, type SynthKnobs } from './model.js';
export { DEFAULT_USER_SCALE, MIN_SCALED_USERS, PRESETS, SET_SHAPES, findPreset, planPreset, presetNames, type Preset, type SetPlan } from './presets.js';
export { DEFAULT_FASHION_MNIST_DIR, hasFashionMnist, loadFashionMnist } from './fashion-mnist.js';
export { generateShop, loadShopOracle, type ShopOptions, type ShopOracle, type ShopReport } from './shop.js';
