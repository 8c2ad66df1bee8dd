/// What each subcommand needs, checked: the records `Options` makes from a command line and
/// `Defaults` fills in; compare builds `TrainConfig`s as values.
module Lnmn.Train.Configs

open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Training.TrainingSpec

type ModelChoice =
    | Lnmn
    /// Stack-NMN's hand-designed modules.
    | StackNmn
    /// LNMN's module counts with concatenation cells (paper Table 2).
    | ConcatCells
    /// LNMN's attention cells with Stack-NMN's Describe as the answer modules (a diagnostic).
    | CellsWithDescribe

module ModelChoice =
    let all = [ Lnmn; StackNmn; ConcatCells; CellsWithDescribe ]

    /// As --model writes it.
    let name (model: ModelChoice) =
        match model with
        | Lnmn -> "lnmn"
        | StackNmn -> "stack-nmn"
        | ConcatCells -> "concat"
        | CellsWithDescribe -> "lnmn-describe"

    /// For run names: lnmn-11, stack-nmn, concat-11.
    let label (model: ModelChoice) (ablation: Ablation) =
        match model with
        | Lnmn -> $"lnmn-{Ablation.number ablation}"
        | StackNmn -> "stack-nmn"
        | ConcatCells -> $"concat-{Ablation.number ablation}"
        | CellsWithDescribe -> $"lnmn-describe-{Ablation.number ablation}"

    /// The model as its paper (or, for the diagnostic, this project) defines it.
    let published (model: ModelChoice) (ablation: Ablation) (dims: ModelDims) =
        match model with
        | Lnmn -> ModelSpec.lnmn ablation dims
        | StackNmn -> ModelSpec.stackNmn dims
        | ConcatCells -> ModelSpec.concat ablation dims
        | CellsWithDescribe -> ModelSpec.cellsWithDescribe ablation dims

    /// Its module list (the same at every size).
    let modules (model: ModelChoice) (ablation: Ablation) = (published model ablation (ModelDims.small 1 1 1 1 1)).Modules

    /// Whether its modules have α to search (Stack-NMN's hand-designed modules and concatenation cells do not).
    let hasAlpha (model: ModelChoice) = ModelSpec.hasAlpha (published model Ablation9 (ModelDims.small 1 1 1 1 1))

    /// Whether its modules include Stack-NMN's Describe (stack-nmn, lnmn-describe).
    let hasDescribe (model: ModelChoice) =
        modules model Ablation9 |> List.exists (function Hand DescribeOne | Hand DescribeTwo -> true | Generic _ | Concat _ | NoOp | Hand _ -> false)

/// --alpha-preset: a built-in architecture, or a genotype file, read when the run is set up (`RunSetup`).
type AlphaStart =
    | Preset of AlphaPreset
    | GenotypeFile of path: string

module AlphaStart =
    /// table6 or find; else a genotype file: a path ending in .json, or any existing file.
    let parse (value: string) : Result<AlphaStart, string> =
        match value.ToLowerInvariant() with
        | "table6" -> Ok(Preset PaperTable6)
        | "find" -> Ok(Preset FindAttention)
        | _ when value.EndsWith(".json", System.StringComparison.OrdinalIgnoreCase) || System.IO.File.Exists value -> Ok(GenotypeFile value)
        | _ -> Error $"--alpha-preset: unknown value '{value}' (expected table6, find or a genotype file, e.g. a run's genotype.json)"

/// Everything a training run needs, checked.
type TrainConfig =
    { Ablation: Ablation
      Model: ModelChoice
      Data: string option
      Epochs: int option
      /// The questions the run is planned for instead of whole epochs (None: whole epochs).
      Questions: int option
      BatchSize: int
      Steps: int
      StackLength: int
      MapDim: int option
      /// The embedding, LSTM, kb and memory widths (None: by size).
      Width: int option
      /// Some true: the paper's sizes; Some false: small; None: by dataset.
      PaperSize: bool option
      Stack: StackDiscipline
      Initialisation: Initialisation
      /// None: the model's own default.
      Pointer: PointerSharpening option
      Seed: int
      Device: Device.DeviceChoice
      Threads: int option
      /// None: a resumed run's own, batch workers for a new one.
      Parallelism: Device.CpuParallelism option
      RunDir: string option
      Resume: bool
      FineTuneFrom: string option
      ArchitectureSplit: ArchitectureSplit
      Unrolled: bool
      EntropyScaling: EntropyScaling
      LambdaWScale: float option
      LearningRate: float option
      AlphaLearningRate: float option
      AlphaRule: Lnmn.Core.Training.AlphaSchedule.Rule
      AlphaWarmup: float option
      AlphaInitScale: float option
      AlphaPreset: AlphaStart option
      AnswerPooling: AnswerPooling option
      CellInputs: CellInputScale option
      DescribeReadout: DescribeReadout option
      NodeMix: NodeMix option
      StackStart: StackStart option
      AlphaEvery: int option
      HardenAt: float option
      AnnealTo: float option
      LearningRateDecay: LearningRateDecay
      MaxSteps: int option
      EvalEvery: int option
      DryRun: bool
      /// The answer vocabulary's size on VQA.
      VqaAnswers: int }

/// `lnmn-train eval`: a checkpoint scored on one split.
type EvalConfig =
    { Checkpoint: string
      /// None: the data the run recorded.
      Data: string option
      /// val, train or test.
      Split: string
      OpAblation: bool
      /// VQA: where the predictions on the split go.
      Results: string option
      Device: Device.DeviceChoice
      Threads: int option }

/// `lnmn-train report`: what a trained run computes, read back into one folder.
type ReportConfig =
    { Target: string
      Out: string option
      Data: string option
      Split: string
      IgSteps: int
      /// Only the split's first N questions; None: all.
      Questions: int option
      Pictures: int
      Device: Device.DeviceChoice
      Threads: int option }

/// `lnmn-train compare`: the budget every model gets, and where the comparison is written.
type CompareConfig =
    { Epochs: int option
      MaxSteps: int option
      Out: string
      Data: string option
      Seed: int
      Device: Device.DeviceChoice
      Threads: int option }

/// `lnmn-train validate`: the dataset directory to check.
type ValidateConfig = { Directory: string }

/// `lnmn-train generate`: a built-in dataset written into a new directory.
type GenerateConfig = { Out: string; Options: Data.BuiltInOptions }

/// `lnmn-train learning-curve`: the settings both models' runs share, the validation split scored
/// every `EvalEvery` weight steps, and where the curves go.
type LearningCurveConfig = { Out: string; Shared: TrainConfig; EvalEvery: int }

/// How `export` writes weights.
type WeightsFormat =
    | Safetensors
    /// torch.save's zip format, a state dict of tensors: `torch.load(FILE)`.
    | PyTorch

/// `lnmn-train export`: a checkpoint's weights, and the spec beside them.
type ExportConfig = { Checkpoint: string; Format: WeightsFormat; Out: string }

/// `lnmn-train import`: a checkpoint made from exported weights.
type ImportConfig = { Weights: string; Out: string }
