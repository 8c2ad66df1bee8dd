/// What makes a `TrainConfig` valid, wherever it came from (the command line or a `--config` file):
/// the values each option may take, the checks on numbers, and the options that do not apply to the
/// run the others describe. A check names what it refuses through `label`: `--epochs` on the
/// command line, `FILE: Epochs` in a file.
module Lnmn.Train.TrainChecks

open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Training
open Lnmn.Core.Training.TrainingSpec
open Lnmn.Train.Configs

/// Each option of `lnmn-train` and the `TrainConfig` field it sets (--arch-split and --arch-fraction
/// both set ArchitectureSplit).
let fields =
    [ "--ablation", "Ablation"; "--model", "Model"; "--data", "Data"; "--epochs", "Epochs"; "--questions", "Questions"; "--batch-size", "BatchSize"
      "--steps", "Steps"; "--stack-length", "StackLength"; "--map-dim", "MapDim"; "--width", "Width"; "--size", "PaperSize"
      "--stack", "Stack"; "--init", "Initialisation"; "--pointer", "Pointer"; "--seed", "Seed"; "--device", "Device"
      "--threads", "Threads"; "--parallel", "Parallelism"; "--run-dir", "RunDir"; "--resume", "Resume"
      "--finetune-from", "FineTuneFrom"; "--arch-split", "ArchitectureSplit"; "--arch-fraction", "ArchitectureSplit"
      "--unrolled", "Unrolled"; "--entropy-scaling", "EntropyScaling"; "--lambda-w-scale", "LambdaWScale"; "--lr", "LearningRate"
      "--alpha-lr", "AlphaLearningRate"; "--alpha-schedule", "AlphaRule"; "--alpha-warmup", "AlphaWarmup"
      "--alpha-init", "AlphaInitScale"; "--alpha-preset", "AlphaPreset"; "--answer-pooling", "AnswerPooling"
      "--cell-inputs", "CellInputs"; "--describe-readout", "DescribeReadout"; "--node-mix", "NodeMix"; "--stack-start", "StackStart"; "--alpha-every", "AlphaEvery"; "--harden-at", "HardenAt"; "--anneal-to", "AnnealTo"; "--lr-decay", "LearningRateDecay"
      "--max-steps", "MaxSteps"; "--eval-every", "EvalEvery"; "--dry-run", "DryRun"; "--vqa-answers", "VqaAnswers" ]

/// The field an option sets.
let fieldOf (option: string) = fields |> List.find (fst >> (=) option) |> snd

/// The option that sets a field (the first, for ArchitectureSplit: --arch-split).
let optionOf (field: string) = fields |> List.find (snd >> (=) field) |> fst

/// The values of each option with a closed list, as the command line spells them.
module Choices =
    let model = [ for m in ModelChoice.all -> ModelChoice.name m, m ]
    let size = [ "paper", true; "small", false ]
    let stack = [ "reference", Reference; "push", Push ]
    let init = [ "authors", AuthorsCode; "torch", TorchDefaults ]
    let pointer = [ "hard", Hard; "soft", PointerSharpening.lnmn ]
    let entropyScaling = [ "paper", PaperBatchMean; "code", AuthorsCodeSum ]
    let lrDecay = [ "constant", Constant; "cosine", Cosine ]
    let answerPooling = [ "sum", SpatialSum; "attention", AttentionWeighted; "squared", AttentionSquared; "both", AttentionWeightedAndSquared; "gated-product", GatedProduct; "weighted-and-describe", AttentionWeightedAndDescribe ]
    let cellInputs = [ "raw", Raw; "unit", UnitNorm ]
    let describeReadout = [ "normalised", Normalised; "unnormalised", Unnormalised ]
    let nodeMix = [ "paper", MixThenNormalise; "each-op", NormaliseEachOp ]
    let stackStart = [ "zeros", Zeros; "ones", Ones ]
    let parallelism = [ "batch", Device.BatchWorkers; "intra-op", Device.IntraOp ]
    let alphaSchedule = [ "scaled", AlphaSchedule.Scaled Defaults.alphaWarmup; "paper", AlphaSchedule.Paper; "frozen", AlphaSchedule.Frozen ]
    let device = [ "auto", Device.Auto; "cpu", Device.Cpu; "cuda", Device.Cuda ]
    let weightsFormat = [ "safetensors", Safetensors; "pytorch", PyTorch ]
    let architectureSplit = [ "heldout", HeldOutOfTrain Defaults.architectureFraction; "val", ValidationLeaky ]

    /// How the command line spells `value`, one of `choices`' values.
    let nameOf (choices: (string * 'T) list) (value: 'T) = choices |> List.find (snd >> (=) value) |> fst

let private compact = System.Text.Json.JsonSerializerOptions(SpecJson.options, WriteIndented = false)

/// A value as a config file writes it.
let json (value: 'T) = System.Text.Json.JsonSerializer.Serialize(value, compact)

/// Ok when `value` is one of `choices`' values (always so for a value the command line parsed).
let private within label (choices: (string * 'T) list) (value: 'T) =
    if choices |> List.exists (snd >> (=) value) then Ok()
    else Error $"""{label}: unknown value {json value} (expected {choices |> List.map (snd >> json) |> String.concat " or "})"""

let private withinIfSome label choices (value: 'T option) = match value with Some v -> within label choices v | None -> Ok()

let inline private positive label value =
    if value > LanguagePrimitives.GenericZero then Ok() else Error $"{label} must be positive (got {value})"

let inline private positiveIfSome label value = match value with Some v -> positive label v | None -> Ok()

/// The first value of `config` that no option could give, in one line; `label` names an option.
let check (label: string -> string) (config: TrainConfig) : Result<unit, string> =
    let c = config
    let refuse option (text: string) = Error $"{label option}{text}"
    /// A number that must lie in a range (NaN never does).
    let inRange option (holds: float -> bool) (range: string) (value: float option) =
        match value with
        | Some v when not (holds v) -> refuse option $" must be {range} (got {v})"
        | _ -> Ok()
    [ positiveIfSome (label "--epochs") c.Epochs
      positiveIfSome (label "--questions") c.Questions
      positive (label "--batch-size") c.BatchSize
      positive (label "--steps") c.Steps
      (if c.StackLength >= 2 then Ok() else refuse "--stack-length" $" must be at least 2 (got {c.StackLength})")
      positiveIfSome (label "--map-dim") c.MapDim
      positiveIfSome (label "--width") c.Width
      positiveIfSome (label "--threads") c.Threads
      inRange "--arch-fraction" (fun f -> f > 0.0 && f < 1.0) "between 0 and 1" (match c.ArchitectureSplit with HeldOutOfTrain f -> Some f | ValidationLeaky -> None)
      inRange "--lambda-w-scale" (fun s -> s >= 0.0) "0 or more" c.LambdaWScale
      positiveIfSome (label "--max-steps") c.MaxSteps
      positiveIfSome (label "--eval-every") c.EvalEvery
      positive (label "--vqa-answers") c.VqaAnswers
      positiveIfSome (label "--lr") c.LearningRate
      positiveIfSome (label "--alpha-lr") c.AlphaLearningRate
      positiveIfSome (label "--alpha-init") c.AlphaInitScale
      positiveIfSome (label "--alpha-every") c.AlphaEvery
      inRange "--harden-at" (fun h -> h > 0.0 && h < 1.0) "between 0 and 1, exclusive" c.HardenAt
      inRange "--anneal-to" (fun t -> t > 0.0 && t <= 1.0) "above 0 and at most 1" c.AnnealTo
      inRange "--alpha-warmup" (fun w -> w >= 0.0 && w <= 1.0) "between 0 and 1" c.AlphaWarmup
      within (label "--model") Choices.model c.Model
      withinIfSome (label "--size") Choices.size c.PaperSize
      within (label "--stack") Choices.stack c.Stack
      within (label "--init") Choices.init c.Initialisation
      withinIfSome (label "--pointer") Choices.pointer c.Pointer
      within (label "--entropy-scaling") Choices.entropyScaling c.EntropyScaling
      within (label "--lr-decay") Choices.lrDecay c.LearningRateDecay
      withinIfSome (label "--answer-pooling") Choices.answerPooling c.AnswerPooling
      withinIfSome (label "--cell-inputs") Choices.cellInputs c.CellInputs
      withinIfSome (label "--describe-readout") Choices.describeReadout c.DescribeReadout
      withinIfSome (label "--node-mix") Choices.nodeMix c.NodeMix
      withinIfSome (label "--stack-start") Choices.stackStart c.StackStart
      within (label "--alpha-schedule") Choices.alphaSchedule c.AlphaRule
      (match c.AlphaPreset with
       | Some(Preset(Written _)) -> refuse "--alpha-preset" $""": a genotype is given as a file ({json (GenotypeFile "genotype.json")})"""
       | _ -> Ok())
      (if c.Epochs.IsSome && c.Questions.IsSome then refuse "--questions" " plans the run instead of --epochs: give one of them" else Ok())
      (if c.Resume && c.RunDir.IsNone then refuse "--resume" " needs --run-dir (the run to continue)" else Ok())
      (if c.FineTuneFrom.IsSome && c.Data.IsNone then refuse "--finetune-from" " needs --data (the dataset to fine-tune on)" else Ok())
      (if c.FineTuneFrom.IsSome && c.Resume then refuse "--finetune-from" " starts a new run; it cannot be combined with --resume" else Ok()) ]
    |> List.tryPick (function Error e -> Some e | Ok() -> None)
    |> function Some e -> Error e | None -> Ok()

/// Options a resumed run takes: where it runs, on how many threads. Everything that defines the run
/// (its length, evaluations, seeds, data, schedules) is its checkpoint's.
let private resumeOptions = set [ "--device"; "--threads"; "--parallel"; "--run-dir"; "--resume"; "--dry-run" ]

/// Options that shape the network or its vocabulary, which a fine-tuned run takes from its checkpoint.
let private modelOptions =
    set [ "--ablation"; "--model"; "--steps"; "--stack-length"; "--map-dim"; "--width"; "--size"; "--stack"; "--init"; "--pointer"
          "--alpha-init"; "--alpha-preset"; "--answer-pooling"; "--cell-inputs"; "--describe-readout"; "--vqa-answers" ]

let private alphaOptions = set [ "--alpha-lr"; "--alpha-schedule"; "--alpha-warmup"; "--alpha-init"; "--alpha-preset"; "--unrolled"; "--alpha-every"; "--harden-at"; "--anneal-to" ]

/// Why `option`, given, would change nothing in the run `config` describes; None if it applies.
let notApplying (config: TrainConfig) (option: string) =
    let model = $"--model {ModelChoice.name config.Model}"
    if config.Resume && not (resumeOptions.Contains option) then Some "with --resume (the run goes on as it started: its length, evaluations, seeds, data and schedules are its checkpoint's)"
    elif config.FineTuneFrom.IsSome && modelOptions.Contains option then Some "with --finetune-from (the model is the checkpoint's)"
    elif option = "--ablation" && config.Model = StackNmn then Some $"to {model} (its nine modules are fixed)"
    elif alphaOptions.Contains option && not (ModelChoice.hasAlpha config.Model) then Some $"to {model} (it has no α)"
    elif option = "--answer-pooling" && config.Model <> Lnmn then Some $"to {model} (only LNMN's answer cells pool by it)"
    elif option = "--cell-inputs" && config.Model = StackNmn then Some $"to {model} (it has no cells)"
    elif option = "--describe-readout" && not (ModelChoice.hasDescribe config.Model) then Some $"to {model} (it has no Describe modules)"
    elif option = "--arch-fraction" && config.ArchitectureSplit = ValidationLeaky then Some "with --arch-split val (α is fitted on val)"
    elif option = "--anneal-to" && config.Unrolled then Some "with --unrolled (the second-order α step runs softmax(α) at τ = 1)"
    elif List.contains option [ "--alpha-lr"; "--alpha-warmup"; "--unrolled"; "--alpha-every"; "--anneal-to" ] && config.AlphaRule = AlphaSchedule.Frozen then
        Some "with --alpha-schedule frozen (α is not trained)"
    elif option = "--alpha-init" && config.AlphaPreset.IsSome then Some "with --alpha-preset (α starts at the preset)"
    else None
