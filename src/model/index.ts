/** The model layer's public surface (architecture.md §2). */
export {
  BACKBONE_KINDS,
  BackboneConfigSchema,
  ModelConfigSchema,
  defaultModelConfig,
  parseModelConfig,
  sharedAnchorCount,
  userAnchorCount,
  type BackboneConfig,
  type BackboneKind,
  type ModelConfig,
  type ModelConfigInput,
} from './config.js';
export { Backbone, describeBackbone, type BackboneDescription, type BackboneLayer } from './backbones.js';
export { featureInputSource, imageInputSource, type ImageCache, type ItemInputSource } from './inputs.js';
export { MASKED_LOGIT, createSetTransformerParams, keyBiasFromSlots, setTransformer } from './set-transformer.js';
export { AnchorTable, dedupe, logDetDivergenceWithGradient, userVectorsInGraph } from './anchors.js';
export { OutfitModel, packOutfitItems, weightInputs, type PackedOutfits, type ParamCounts } from './outfit-model.js';
export { ParamTable, type Param, type ParamGroup } from './params.js';
export {
  decodeSafetensors,
  encodeSafetensors,
  loadNamedTensors,
  loadWeights,
  readSafetensors,
  saveNamedTensors,
  saveWeights,
  writeSafetensors,
  type SafetensorsContents,
  type SafetensorsDtype,
  type SafetensorsTensor,
} from './checkpoint.js';
