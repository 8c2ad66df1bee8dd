/// Training as data: optimisers, the two regularisers, and where α's batches come from (docs/design.md §3).
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

/// How the weights' learning rate moves over a run.
type LearningRateDecay =
    /// The paper's: constant.
    | Constant
    /// Half a cosine from the base rate down to zero at the run's last step.
    | Cosine

/// How the classifier's logits are trained against the answers.
type AnswerLoss =
    /// Softmax cross-entropy on the one answer (CLEVR, as the paper).
    | SoftmaxCrossEntropy
    /// Sigmoid cross-entropy per answer on soft targets min(1, humans who gave it / 3), summed over
    /// the answers and averaged over the batch: Stack-NMN's VQA training (`VQA_USE_SOFT_SCORE` in its
    /// exp_vqa/train_net_vqa.py), the baseline whose VQA setup the paper's Table 4 runs share. The VQA
    /// score gives partial credit, which one class label cannot.
    | SigmoidSoftTargets

type AdamSettings = { LearningRate: float; Beta1: float; Beta2: float; WeightDecay: float }

type TrainingSpec =
    { Epochs: int
      BatchSize: int
      /// The questions the run is planned for: its schedules are laid over Questions / BatchSize weight
      /// steps, and its last epoch ends there (Epochs is as many passes as they need). None: Epochs
      /// whole passes over the training split, as the paper.
      Questions: int option
      Weights: AdamSettings
      Alpha: AdamSettings
      /// λ_op of the α sparsity term Σ ‖σ(α)‖₂ / ‖σ(α)‖₁.
      LambdaOp: float
      EntropyScaling: EntropyScaling
      ArchitectureSplit: ArchitectureSplit
      /// Second-order (unrolled) α gradient instead of first-order.
      Unrolled: bool
      Seed: int
      /// Fraction of the run's weight steps trained before the first α step (None: 0, Algorithm 2 as
      /// the paper states it). Until then α stays at its initialisation.
      AlphaWarmup: float option
      /// An α step on every K-th batch of the α phase instead of every batch (a departure: α's
      /// updates thinned to save their compute, its lr scaled by K so that α travels as far). None:
      /// 1, Algorithm 2's alternation.
      AlphaEvery: int option
      /// None: `Constant`, as the paper.
      WeightLearningRateDecay: LearningRateDecay option
      /// λ_w's schedule multiplied by this (None: 1, the paper's schedule).
      LambdaWScale: float option
      /// None: `SoftmaxCrossEntropy`.
      AnswerLoss: AnswerLoss option
      /// The fraction of the run's weight steps after which α is frozen and the weights train the
      /// hard-max network (one op per node), as DARTS trains its derived cell. None: never, the
      /// paper's soft training to the end.
      HardenAt: float option
      /// The temperature τ of softmax(α / τ) at the run's end, reached geometrically from 1 over the
      /// α phase (SNAS/GDAS-style annealing towards the hard-max network; a departure). None: 1
      /// throughout, the paper's softmax.
      AnnealTo: float option }

module TrainingSpec =
    let paper =
        { Epochs = 30
          BatchSize = 64
          Questions = None
          Weights = { LearningRate = 1e-4; Beta1 = 0.9; Beta2 = 0.999; WeightDecay = 0.0 }
          Alpha = { LearningRate = 3e-4; Beta1 = 0.5; Beta2 = 0.999; WeightDecay = 1e-3 }
          LambdaOp = 1.0
          EntropyScaling = PaperBatchMean
          ArchitectureSplit = HeldOutOfTrain 0.1
          Unrolled = false
          Seed = 0
          AlphaWarmup = None
          AlphaEvery = None
          WeightLearningRateDecay = None
          LambdaWScale = None
          AnswerLoss = None
          HardenAt = None
          AnnealTo = None }

module LearningRateDecay =
    /// The multiple of the base rate at weight step `step` (0-based) of `totalSteps`.
    let factor (decay: LearningRateDecay option) (step: int) (totalSteps: int) =
        match decay with
        | None | Some Constant -> 1.0
        | Some Cosine -> 0.5 * (1.0 + cos (System.Math.PI * float step / float (max 1 totalSteps)))
