/// Every default of lnmn-train in one place: what a run assumes when an option is not given, the
/// one function from a run's options and its data to the (ModelSpec, TrainingSpec) it trains, and
/// the defaults of eval, report and compare. The CLI, compare and the benchmarks all read these.
module Lnmn.Train.Defaults

open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Training
open Lnmn.Core.Training.TrainingSpec
open Lnmn.Train.Configs

let device = Device.Auto

/// The fraction of a `scaled` run's weight steps trained before the first α step. Half the run:
/// measured on the built-in data over seeds 0, 1 and 2 against 20% (docs/results.md, "Where it stands"),
/// equal on two seeds and 12 points up on the third, where 20% let the search settle two Find
/// cells on the text alone. Those three runs kept the 20% rule's α lr (1.42e-3: `--alpha-warmup`
/// moves the first α step, not the lr `AlphaSchedule.Rule.alphaSettings` derives from the rule);
/// this default's own lr, 8 / (half the planned steps) = 2.28e-3 on the main job, has one seed measured
/// (with `builtInAlphaEvery`'s rhythm, a third as many α steps: 6.83e-3).
let alphaWarmup = 0.5

/// How the CPU threads share a step when --parallel is not given: each a slice of the batch.
let cpuParallelism = Device.BatchWorkers

/// The scale the img and txt maps enter the cells at: the paper's.
let cellInputs = Raw

/// What Stack-NMN's Describe modules read out: Stack-NMN's.
let describeReadout = Normalised

/// The fraction of train held out for α's batches.
let architectureFraction = 0.1

/// A training run's options where none is given. A default that depends on the data (the built-in
/// dataset or CLEVR) is None here; `modelSpec` and `trainingSpec` decide it.
let train: TrainConfig =
    { Ablation = Ablation11
      Model = Lnmn
      Data = None
      Epochs = None
      Questions = None
      BatchSize = TrainingSpec.paper.BatchSize
      Steps = 5
      StackLength = 5
      MapDim = None
      Width = None
      PaperSize = None
      Stack = Reference
      Initialisation = AuthorsCode
      Pointer = None
      Seed = 0
      Device = device
      Threads = None
      Parallelism = None
      RunDir = None
      Resume = false
      FineTuneFrom = None
      ArchitectureSplit = HeldOutOfTrain architectureFraction
      Unrolled = false
      EntropyScaling = PaperBatchMean
      LambdaWScale = None
      LearningRate = None
      AlphaLearningRate = None
      AlphaRule = AlphaSchedule.Scaled alphaWarmup
      AlphaWarmup = None
      AlphaInitScale = None
      AlphaPreset = None
      AnswerPooling = None
      CellInputs = None
      DescribeReadout = None
      NodeMix = None
      StackStart = None
      AlphaEvery = None
      HardenAt = None
      AnnealTo = None
      LearningRateDecay = Constant
      MaxSteps = None
      EvalEvery = None
      DryRun = false
      VqaAnswers = Data.VqaAnswers.defaultVocabularySize }

/// What the defaults depend on in the data a run trains on.
type DataFacts =
    { /// Made by the built-in generator (trained at a small size, for minutes), not CLEVR.
      BuiltIn: bool
      /// VQA: trained on soft targets.
      Vqa: bool
      Answers: int
      Words: int
      Channels: int
      Height: int
      Width: int
      /// The examples the weight steps draw from.
      TrainExamples: int }

/// The built-in dataset trains for this many epochs unless --epochs or --questions says otherwise:
/// its train split is sized so that the main job sees every question once.
let builtInEpochs = 1

/// How answer cells pool on the built-in dataset: weighted by the map they read, beside Describe's
/// read-out of the img map. With the paper's plain sum no attention grounds there (docs/design.md
/// §4); with the weighted sum alone comparisons stay at the prior (docs/results.md: three seeds each,
/// 78.65% against 72.94% mean, compare attribute 79.98% against 55.99%). CLEVR runs keep the paper's cell.
let builtInAnswerPooling = AttentionWeightedAndDescribe

/// How nodes mix their ops on the built-in dataset: each op at unit norm before the weighted sum,
/// so the one-hot network keeps what the soft one computed (docs/results.md, seventh and eighth
/// rounds: hard-max within 0.5 points of soft on seeds 0, 1, 2, where the paper's mix lost 19 on
/// seed 0; soft 78.90% mean against 78.65%). CLEVR runs keep the paper's node.
let builtInNodeMix = NormaliseEachOp

/// The built-in dataset is trained for minutes, not days: a larger weight learning rate than the
/// paper's, which is meant for 30 epochs of 700K questions.
let builtInLearningRate = 1e-3

/// λ_w's scale on the built-in dataset, each model at its measured best (docs/results.md). LNMN: 0,
/// since the paper's schedule holds module weights uniform while λ_w > 0 (H(w(t)) stays at log M),
/// the first two thirds of any run, which a 15-minute run cannot spare (70.66% against 73.22% on
/// seed 0). Stack-NMN: the paper's schedule, None (82.18% against 57.08%; at 0 it never learns
/// colour). CLEVR runs keep the paper's schedule for every model.
let builtInLambdaWScale (model: ModelChoice) =
    match model with
    | StackNmn -> None
    | Lnmn | ConcatCells | CellsWithDescribe -> Some 0.0

/// On the built-in dataset a model with α takes an α step on every third batch of its α phase, α's
/// lr × 3 (`--alpha-every`, a departure from Algorithm 2's alternation): an α step costs about 70%
/// of a weight step at batch 64 (77% at 128; docs/benchmarks.md), and the main job's 15 minutes
/// could not always hold them (16 min 34 s on a slow hour). One pass of 64, seeds 0 and 1, one thread: 79.24 / 79.10 and 79.22 / 79.26 soft / hard-max
/// against 78.40 / 77.38 and 79.20 / 78.72 with an α step per batch; seed 2, run after, 79.44 / 79.26
/// against 78.76 / 78.62 (docs/results.md, twelfth round).
/// CLEVR runs and `--alpha-schedule paper` keep the paper's alternation.
let builtInAlphaEvery = 3

/// The paper's sizes on CLEVR, the small ones on the built-in dataset, unless --size says.
let private paperSize (config: TrainConfig) (builtIn: bool) = defaultArg config.PaperSize (not builtIn)

/// The channels the cells combine: --map-dim, else by size (384 or 32).
let mapDim (config: TrainConfig) (builtIn: bool) =
    let sized = if paperSize config builtIn then ModelDims.paper 0 0 else ModelDims.small 0 0 0 0 0
    defaultArg config.MapDim sized.MapDim

let modelSpec (config: TrainConfig) (data: DataFacts) : ModelSpec =
    let dims =
        if paperSize config data.BuiltIn then
            { ModelDims.paper data.Answers data.Words with InputChannels = data.Channels; GridHeight = data.Height; GridWidth = data.Width }
        else ModelDims.small data.Answers data.Words data.Channels data.Height data.Width
    let width given = defaultArg config.Width given
    let dims =
        { dims with
            Steps = config.Steps; StackLength = config.StackLength; MapDim = mapDim config data.BuiltIn
            EmbedDim = width dims.EmbedDim; LstmHidden = width dims.LstmHidden; KbDim = width dims.KbDim; MemDim = width dims.MemDim }
    let published = ModelChoice.published config.Model config.Ablation dims
    { published with
        Stack = config.Stack
        Pointer = config.Pointer |> Option.orElse published.Pointer
        Initialisation = Some config.Initialisation
        AlphaInitScale = config.AlphaInitScale |> Option.orElse (AlphaSchedule.Rule.initialisationScale config.AlphaRule)
        // A genotype file's is read and checked by `RunSetup.prepare`, which sets it.
        AlphaPreset = match config.AlphaPreset with Some(Preset p) -> Some p | Some(GenotypeFile _) | None -> None
        AnswerPooling = Some(config.AnswerPooling |> Option.defaultValue (if data.BuiltIn then builtInAnswerPooling else SpatialSum))
        CellInputs = Some(defaultArg config.CellInputs cellInputs)
        DescribeReadout = Some(defaultArg config.DescribeReadout describeReadout)
        NodeMix = Some(config.NodeMix |> Option.defaultValue (if data.BuiltIn then builtInNodeMix else MixThenNormalise))
        StackStart = config.StackStart }

let private ceilDiv n d = (n + d - 1) / max 1 d

/// Weight steps a run is planned for: its questions in batches, else its epochs over the training
/// examples. The schedules (λ_w, α's warm-up and lr, the weights' lr decay) follow this plan;
/// --max-steps only stops a run early.
let plannedSteps (training: TrainingSpec) (trainExamples: int) =
    match training.Questions with
    | Some questions -> ceilDiv questions training.BatchSize
    | None -> ceilDiv trainExamples training.BatchSize * training.Epochs

/// On VQA the sigmoid loss on soft targets (`AnswerLoss`), else the paper's softmax CE.
let trainingSpec (config: TrainConfig) (data: DataFacts) : TrainingSpec =
    let paper = TrainingSpec.paper
    let weightLr = config.LearningRate |> Option.defaultValue (if data.BuiltIn then builtInLearningRate else paper.Weights.LearningRate)
    let epochs =
        match config.Questions with
        | Some q -> ceilDiv q data.TrainExamples
        | None -> config.Epochs |> Option.defaultValue (if data.BuiltIn then builtInEpochs else paper.Epochs)
    let steps = plannedSteps { paper with Epochs = epochs; BatchSize = config.BatchSize; Questions = config.Questions } data.TrainExamples
    let alphaEvery =
        match config.AlphaEvery, config.AlphaRule with
        | Some every, _ -> Some every
        | None, AlphaSchedule.Scaled _ when data.BuiltIn && ModelChoice.hasAlpha config.Model -> Some builtInAlphaEvery
        | None, _ -> None
    let alpha = AlphaSchedule.Rule.alphaSettings config.AlphaRule paper.Alpha steps config.HardenAt (defaultArg alphaEvery 1)
    { paper with
        Weights = { paper.Weights with LearningRate = weightLr }
        Alpha = { alpha with LearningRate = defaultArg config.AlphaLearningRate alpha.LearningRate }
        AlphaWarmup = config.AlphaWarmup |> Option.orElse (AlphaSchedule.Rule.warmup config.AlphaRule)
        WeightLearningRateDecay = Some config.LearningRateDecay
        LambdaWScale = config.LambdaWScale |> Option.orElse (if data.BuiltIn then builtInLambdaWScale config.Model else None)
        Epochs = epochs
        BatchSize = config.BatchSize
        Questions = config.Questions
        EntropyScaling = config.EntropyScaling
        ArchitectureSplit = config.ArchitectureSplit
        Unrolled = config.Unrolled
        Seed = config.Seed
        AnswerLoss = if data.Vqa then Some SigmoidSoftTargets else None
        AlphaEvery = alphaEvery
        HardenAt = config.HardenAt
        AnnealTo = config.AnnealTo }

/// The model and training a new run with these options trains on this data.
let specs (config: TrainConfig) (data: DataFacts) = modelSpec config data, trainingSpec config data

/// `eval` and `report`.
module Scoring =
    /// The split scored.
    let split = "val"
    /// Riemann steps of the report's integrated gradients.
    let igSteps = 16
    /// Questions the report draws with their w(t) and attention maps.
    let pictures = 3

/// `compare`.
module Compare =
    let out = "comparison"
    /// The full comparison on the built-in dataset: the main job's budget, one pass over its 450K
    /// training questions per model (about 11 minutes an LNMN model on this project's 2-core machine),
    /// written into the budget. With --data every model gets the trainer's default.
    let epochsOnBuiltIn = builtInEpochs
    /// `--quick`: a smoke test of minutes in all.
    let quickEpochs = 1
    let quickMaxSteps = 25

/// `learning-curve`.
module LearningCurve =
    let out = System.IO.Path.Combine("bench-results", "learning")
    /// Weight steps between two scorings of the validation split.
    let evalEvery = 250

/// `export`.
module Export =
    let format = Safetensors
