/// Training as data: optimisers, the two regularisers, and where α's batches come from (DESIGN.md §4).
module Lnmn.Core.Training.TrainingSpec

/// How the module-entropy term of the weight loss is scaled.
type EntropyScaling =
    /// The paper: λ_w · mean over the batch, the same scale as the cross-entropy.
    | PaperBatchMean
    /// The authors' code: 0.01 · λ_w · sum over the batch (0.64 · λ_w at batch 64).
    | AuthorsCodeSum

/// The batches α is fitted on.
type ArchitectureSplit =
    /// A slice of train held out from the weight steps (ours, the default).
    | HeldOutOfTrain of fraction: float
    /// The validation split, as the authors did; results on val are then not held out.
    | ValidationLeaky

type AdamSettings = { LearningRate: float; Beta1: float; Beta2: float; WeightDecay: float }

type TrainingSpec =
    { Epochs: int
      BatchSize: int
      Weights: AdamSettings
      Alpha: AdamSettings
      /// λ_op of the α sparsity term Σ ‖σ(α)‖₂ / ‖σ(α)‖₁.
      LambdaOp: float
      EntropyScaling: EntropyScaling
      ArchitectureSplit: ArchitectureSplit
      /// Second-order (unrolled) α gradient instead of first-order.
      Unrolled: bool
      Seed: int }

module TrainingSpec =
    let paper =
        { Epochs = 30
          BatchSize = 64
          Weights = { LearningRate = 1e-4; Beta1 = 0.9; Beta2 = 0.999; WeightDecay = 0.0 }
          Alpha = { LearningRate = 3e-4; Beta1 = 0.5; Beta2 = 0.999; WeightDecay = 1e-3 }
          LambdaOp = 1.0
          EntropyScaling = PaperBatchMean
          ArchitectureSplit = HeldOutOfTrain 0.1
          Unrolled = false
          Seed = 0 }
