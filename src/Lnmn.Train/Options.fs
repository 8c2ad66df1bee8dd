/// The command line: Argu definitions, and their translation into each subcommand's checked config
/// (`Configs`), with the defaults of `Defaults`. A bad option is a one-line Error naming it.
module Lnmn.Train.Options

open Argu
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Data
open Lnmn.Core.Training
open Lnmn.Core.Training.TrainingSpec
open Lnmn.Train.Configs

let private paperDims, smallDims = ModelDims.paper 0 0, ModelDims.small 0 0 0 0 0

/// "default NAME", NAME how the command line spells the default `value`.
let private defaultIs (choices: (string * 'T) list) (value: 'T) = $"default {TrainChecks.Choices.nameOf choices value}"

let private softTemperature = match PointerSharpening.lnmn with Soft t -> t | Hard -> nan
let private pointerName (p: PointerSharpening) = match p with Hard -> "hard" | Soft _ -> "soft"

/// 1e-4, not 0.0001, in help text.
let private sci (x: float) = x.ToString("0.##e0", System.Globalization.CultureInfo.InvariantCulture)

type TrainArgs =
    | Config of file: string
    | Ablation of int
    | Model of string
    | Data of dir: string
    | Epochs of int
    | Questions of int
    | Batch_Size of int
    | [<AltCommandLine("-T")>] Steps of int
    | [<AltCommandLine("-L")>] Stack_Length of int
    | Map_Dim of int
    | Width of int
    | Size of string
    | Stack of string
    | Init of string
    | Pointer of string
    | Seed of int
    | Device of string
    | Threads of int
    | Parallel of string
    | Run_Dir of dir: string
    | Resume
    | Finetune_From of checkpoint: string
    | Arch_Split of string
    | Arch_Fraction of float
    | Unrolled
    | Entropy_Scaling of string
    | Lambda_W_Scale of float
    | Lr of float
    | Alpha_Lr of float
    | Alpha_Schedule of string
    | Alpha_Warmup of float
    | Alpha_Init of float
    | Alpha_Preset of string
    | Answer_Pooling of string
    | Cell_Inputs of string
    | Describe_Readout of string
    | Node_Mix of string
    | Stack_Start of string
    | Alpha_Every of int
    | Harden_At of float
    | Anneal_To of float
    | Lr_Decay of string
    | Max_Steps of int
    | Eval_Every of int
    | Dry_Run
    | Vqa_Answers of int
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Config _ -> "start from a config file: a TrainConfig as JSON (a run's config.json, or one of experiments/); the options given beside it override its fields, and a field it leaves out takes its default."
            | Vqa_Answers _ -> $"VQA: answers in the vocabulary, the most frequent training answers (default {Defaults.train.VqaAnswers})."
            | Ablation _ -> $"module set: 9, 11 or 14 (paper Table 3; default {Ablation.number Defaults.train.Ablation})."
            | Model _ -> $"the model: lnmn, stack-nmn (the hand-designed baseline), concat (cells replaced by concatenation + 1×1 conv, paper Table 2) or lnmn-describe (a diagnostic: LNMN's attention cells, Stack-NMN's Describe as answer modules); {defaultIs TrainChecks.Choices.model Defaults.train.Model}."
            | Data _ -> "a CLEVR-layout directory (questions/, features/) or a VQA v1/v2 one (questions/, annotations/, resnet152_c5_7x7/; README); absent: the built-in dataset, generated on first use."
            | Epochs _ -> $"epochs (default: {TrainingSpec.paper.Epochs} on CLEVR, {Defaults.builtInEpochs} on the built-in dataset)."
            | Questions _ -> "plan the run for this many questions instead of whole epochs: its schedules laid over questions / batch size weight steps, its last pass cut there (default: whole epochs)."
            | Batch_Size _ -> $"questions per batch (default {Defaults.train.BatchSize})."
            | Steps _ -> $"T, controller steps (default {Defaults.train.Steps})."
            | Stack_Length _ -> $"L, stack slots (default {Defaults.train.StackLength})."
            | Map_Dim _ -> $"channels the cells combine (default: by --size, {paperDims.MapDim} or {smallDims.MapDim})."
            | Width _ -> $"the word embedding, LSTM, kb and memory widths (default: by --size, {paperDims.EmbedDim}/{paperDims.LstmHidden}/{paperDims.KbDim}/{paperDims.MemDim} or {smallDims.KbDim})."
            | Size _ -> $"model size: paper (map {paperDims.MapDim}, kb {paperDims.KbDim}, LSTM {paperDims.LstmHidden}) or small (map {smallDims.MapDim}, kb, LSTM and memory {smallDims.KbDim}); default paper with --data, small on the built-in dataset."
            | Stack _ -> $"stack discipline: reference (the authors' code and the paper's prose) or push (Stack-NMN's Find pushes; a departure); {defaultIs TrainChecks.Choices.stack Defaults.train.Stack}."
            | Init _ -> $"weight initialisation: authors (the authors' code: xavier weights, N(0,1) conv biases) or torch (PyTorch's layer defaults); {defaultIs TrainChecks.Choices.init Defaults.train.Initialisation}."
            | Pointer _ -> $"pointer sharpening: hard (argmax) or soft (softmax(·/{softTemperature})); default {pointerName (ModelSpec.pointer (ModelSpec.stackNmn paperDims))} for stack-nmn, {pointerName PointerSharpening.lnmn} otherwise."
            | Seed _ -> $"random seed (default {Defaults.train.Seed})."
            | Device _ -> $"auto, cpu or cuda ({defaultIs TrainChecks.Choices.device Defaults.device})."
            | Threads _ -> "CPU threads (default: all cores; with --resume, the run's own: on CPU another count may change the metrics' last digits)."
            | Parallel _ -> $"how the CPU threads share a step: batch (each takes a slice of the batch, with one libtorch thread) or intra-op (libtorch's threads share each op); {defaultIs TrainChecks.Choices.parallelism Defaults.cpuParallelism}; with --resume, the run's own."
            | Run_Dir _ -> "run folder (default runs/<model>-<data>-seed<seed>-<UTC time>, model lnmn-<ablation>, stack-nmn or concat-<ablation>)."
            | Resume -> "continue the run in --run-dir from its last checkpoint, as it started (only --threads, --parallel and --device may be given)."
            | Finetune_From _ -> "start from a trained checkpoint, on --data with a possibly larger vocabulary (e.g. CLEVR → CLEVR-Humans): new words get new embedding rows."
            | Arch_Split _ -> $"where α's batches come from: heldout (a slice of train) or val (the authors' choice: val is then not held out); {defaultIs TrainChecks.Choices.architectureSplit Defaults.train.ArchitectureSplit}."
            | Arch_Fraction _ -> $"fraction of train held out for α with --arch-split heldout (default {Defaults.architectureFraction})."
            | Unrolled -> "second-order (unrolled) α step instead of first-order."
            | Entropy_Scaling _ -> $"module-entropy term: paper (λ_w · batch mean) or code (0.01 · λ_w · batch sum); {defaultIs TrainChecks.Choices.entropyScaling Defaults.train.EntropyScaling}."
            | Lambda_W_Scale _ -> "multiply the paper's λ_w schedule (1 → −1 over the run) by this (default: 1 with --data, the paper's; on the built-in dataset 0 for LNMN, which drops the module-entropy term, and 1 for Stack-NMN, each its measured best)."
            | Lr _ -> $"weight learning rate (default: the paper's {sci TrainingSpec.paper.Weights.LearningRate} on CLEVR, {sci Defaults.builtInLearningRate} on the built-in dataset)."
            | Alpha_Lr _ -> $"α learning rate (default with --alpha-schedule scaled: {AlphaSchedule.travel} / the run's α steps, between the paper's {sci TrainingSpec.paper.Alpha.LearningRate} and {sci AlphaSchedule.maxLearningRate}; the paper's {sci TrainingSpec.paper.Alpha.LearningRate} otherwise)."
            | Alpha_Schedule _ -> "how α is searched: scaled (ours, default: α ~ 1e-3·N(0,1), lr scaled to the run, weights alone for the first half), paper (Algorithm 2 as written: α ~ N(0,1), lr 3e-4, α steps from the first batch) or frozen (α kept at its N(0,1) draw: a random architecture)."
            | Alpha_Warmup _ -> $"fraction of the run's weight steps before the first α step (default: {Defaults.alphaWarmup} with --alpha-schedule scaled, 0 with paper)."
            | Alpha_Init _ -> $"standard deviation of α's normal initialisation (default: {sci AlphaSchedule.Rule.scaledInitialisation} with --alpha-schedule scaled, 1 otherwise)."
            | Alpha_Preset _ -> "start α at a fixed architecture instead of a random draw: table6 (the modules the paper reports learning, its Table 6), find (Table 6 with Stack-NMN's Find as every 3-input attention cell), or a genotype file (FILE.json, e.g. a run's genotype.json: softmax(α) starts at its weights); with --alpha-schedule frozen the cells keep it."
            | Cell_Inputs _ -> $"the scale the image and text maps enter the cells at: raw (the paper's) or unit (ours, a departure: each L2-normalised over channels per position, as node outputs are); {defaultIs TrainChecks.Choices.cellInputs Defaults.cellInputs}."
            | Describe_Readout _ -> $"what Stack-NMN's Describe modules (stack-nmn, lnmn-describe) feed their memory layer: normalised (Stack-NMN's, l2norm(W c ⊙ p [⊙ p2]) with p the kb pooled under each map read) or unnormalised (ours, a departure: W c ⊙ p [⊙ p2] as it comes); {defaultIs TrainChecks.Choices.describeReadout Defaults.describeReadout}."
            | Stack_Start _ -> "what the stack holds before the first step: zeros (the authors', with --stack reference) or ones (every slot a map over the whole image, what --stack push starts from; with reference ours, a departure: no node is zero at the first step for want of a map, so the one-hot node there computes what the soft one's winner did); default: the stack discipline's own."
            | Node_Mix _ -> $"how a node mixes its six ops: paper (normalise(Σ softmax(α)_i op_i), the paper's) or each-op (ours, a departure in the relaxation: normalise(Σ softmax(α)_i normalise(op_i)), each op at unit norm per position, so α's share is the op's share of the node and hard-max keeps what the soft node computed; the default on the built-in dataset); paper is the default with --data."
            | Anneal_To _ -> "the temperature τ of the nodes' softmax(α / τ) at the run's end, reached geometrically from 1 over the α phase, so the soft network becomes the hard-max one gradually (a departure, SNAS/GDAS-style); default: 1 throughout, the paper's softmax."
            | Alpha_Every _ -> $"an α step on every K-th batch of the α phase, α's lr multiplied by K (a departure: Algorithm 2 alternates an α step with every weight step; each α step costs most of a weight step); default: every batch, {Defaults.builtInAlphaEvery} on the built-in dataset with --alpha-schedule scaled."
            | Harden_At _ -> "the fraction of the run after which α is frozen at its argmax and the weights train the hard-max network (one op per node; a departure, DARTS' derived-cell training); default: never."
            | Answer_Pooling _ -> "how answer cells pool their last node over the map: sum (the paper's; default with --data) or attention (ours: weighted by H·W·softmax of the map the cell read, Stack-NMN's Describe weighting; the plain sum when that map is uniform) or squared (ours: H·W·m⊙m with m the softmax-weighted mean, so two objects under one map give their product, as Stack-NMN's DescribeTwo; a departure) or both (ours: the attention-weighted sum and its square side by side; a departure) or gated-product (ours: Stack-NMN's Describe read-out on the last node, l2norm(c ⊙ m1 [⊙ m2]) with m_i pooled under each map the cell read; a departure) or weighted-and-describe (ours: the attention-weighted sum beside Describe's unnormalised read-out of the img map, g(c_t) ⊙ p [⊙ p] with p the img map pooled under the map read and g a linear of the controller's text of each cell's own; a departure, the first with which LNMN-11's own answer cells compare; default on the built-in dataset)."
            | Max_Steps _ -> "stop after this many weight steps in total (for smoke tests)."
            | Lr_Decay _ -> $"weight learning rate over the run: constant (the paper's) or cosine (half a cosine down to 0 at the last step); {defaultIs TrainChecks.Choices.lrDecay Defaults.train.LearningRateDecay}."
            | Eval_Every _ -> "also score the validation split every N weight steps (metrics-evals.jsonl: the learning curve against questions seen and seconds)."
            | Dry_Run -> "print the resolved spec, parameter and α counts, and exit."

type EvalArgs =
    | [<Mandatory>] Checkpoint of path: string
    | Data of dir: string
    | Split of string
    | Op_Ablation
    | Results of path: string
    | Device of string
    | Threads of int
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Results _ -> "VQA: also write the predictions on --split (soft α) to this file in the official results format, [{\"question_id\", \"answer\"}]."
            | Op_Ablation -> "also score with each op removed from every node (paper Table 7)."
            | Checkpoint _ -> "checkpoint file (a run's checkpoints/last.ckpt)."
            | Data _ -> "dataset directory (default: the one the run trained on)."
            | Split _ -> $"split to score: val, train, or a VQA directory's test split (written with --results, not scored); default {Defaults.Scoring.split}."
            | Device _ -> $"auto, cpu or cuda ({defaultIs TrainChecks.Choices.device Defaults.device})."
            | Threads _ -> "intra-op CPU threads."

type ReportArgs =
    | [<MainCommand; Mandatory>] Target of run_dir_or_checkpoint: string
    | Out of dir: string
    | Data of dir: string
    | Split of string
    | Ig_Steps of int
    | Questions of int
    | Pictures of int
    | Device of string
    | Threads of int
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Target _ -> "a run folder (uses checkpoints/last.ckpt and the run's metrics) or a checkpoint file."
            | Out _ -> "report folder (default: <run>/report, or <checkpoint>-report next to a lone checkpoint); replaced whole."
            | Data _ -> "dataset directory (default: the one the run trained on)."
            | Split _ -> "split the tables are measured on: val (default) or train."
            | Ig_Steps _ -> $"Riemann steps of the integrated gradients (default {Defaults.Scoring.igSteps})."
            | Questions _ -> "use only the split's first N questions for the tables (default: all of them)."
            | Pictures _ -> $"questions drawn with their w(t) and attention maps (default {Defaults.Scoring.pictures})."
            | Device _ -> $"auto, cpu or cuda ({defaultIs TrainChecks.Choices.device Defaults.device})."
            | Threads _ -> "intra-op CPU threads."

type GenerateArgs =
    | [<Mandatory>] Out of dir: string
    | Train_Scenes of int
    | Val_Scenes of int
    | Questions_Per_Scene of int
    | Groups of string
    | Seed of int
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Out _ -> "dataset directory to write (CLEVR's layout: questions/, scenes/, features/); must not exist yet."
            | Train_Scenes _ -> "train scenes (default: the built-in dataset's)."
            | Val_Scenes _ -> "validation scenes, generated from their own seed (default: the built-in dataset's)."
            | Questions_Per_Scene _ -> "questions asked about each scene (default: the built-in dataset's)."
            | Groups _ -> "CLEVR template groups to ask from, comma-separated (zero_hop, one_hop, two_hop, three_hop, single_and, single_or, same_relate, comparison, compare_integer; default: all), e.g. zero_hop for a grounding ladder's first rung."
            | Seed _ -> "generator seed (default: the built-in dataset's)."

type LearningCurveArgs =
    | Out of dir: string
    | Data of dir: string
    | Epochs of int
    | Max_Steps of int
    | Eval_Every of int
    | Seed of int
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Out _ -> $"output folder (default {Defaults.LearningCurve.out}): learning-curves.{{csv,md,html,png}} and runs/ (finished runs are reused)."
            | Data _ -> "a CLEVR-layout directory (default: the built-in dataset)."
            | Epochs _ -> "epochs per model (default: the trainer's)."
            | Max_Steps _ -> "at most this many weight steps per model."
            | Eval_Every _ -> $"score the validation split every N weight steps (default {Defaults.LearningCurve.evalEvery})."
            | Seed _ -> $"the one seed both models are trained with (default {Defaults.train.Seed})."

type ExportArgs =
    | [<MainCommand; Mandatory>] Checkpoint of path: string
    | Format of string
    | [<Mandatory>] Out of file: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Checkpoint _ -> "checkpoint file (a run's checkpoints/last.ckpt)."
            | Format _ -> $"safetensors or pytorch (torch.save's zip format); {defaultIs TrainChecks.Choices.weightsFormat Defaults.Export.format}."
            | Out _ -> "weights file to write; NAME.spec.json is written beside it."

type ImportArgs =
    | [<MainCommand; Mandatory>] Weights of file: string
    | [<Mandatory>] Out of checkpoint: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Weights _ -> "an exported weights file (safetensors or pytorch) with its NAME.spec.json beside it."
            | Out _ -> "checkpoint to write (must not exist)."

type ValidateArgs =
    | [<MainCommand; Mandatory>] Directory of dir: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Directory _ -> "dataset directory to check."

/// `Ok value` when it is above zero, else a one-line error naming the option (NaN is not positive).
let inline positive name value =
    if value > LanguagePrimitives.GenericZero then Ok value else Error $"--{name} must be positive (got {value})"

/// `check` applied to an option that may be absent.
let optional (check: 'T -> Result<'U, string>) (value: 'T option) =
    match value with
    | Some v -> check v |> Result.map Some
    | None -> Ok None

/// --device, or the default device when it is absent.
let private device (given: string option) =
    match given with
    | Some text -> Device.parseDeviceChoice text |> Result.mapError (fun e -> $"--device: {e}")
    | None -> Ok Defaults.device

let private ofChoice name (choices: (string * 'T) list) (value: string) =
    match choices |> List.tryFind (fun (k, _) -> k = value.ToLowerInvariant()) with
    | Some(_, v) -> Ok v
    | None -> Error $"""--{name}: unknown value '{value}' (expected {choices |> List.map fst |> String.concat " or "})"""

/// Template groups from a comma-separated list of their CLEVR names.
let templateGroups (text: string) =
    let choices = TemplateGroup.all |> List.map (fun g -> TemplateGroup.name g, g)
    text.Split(',', System.StringSplitOptions.RemoveEmptyEntries ||| System.StringSplitOptions.TrimEntries)
    |> List.ofArray
    |> List.fold (fun acc name -> Result.bind (fun gs -> ofChoice "groups" choices name |> Result.map (fun g -> gs @ [ g ])) acc) (Ok [])
    |> Result.bind (fun gs -> if gs.IsEmpty then Error "--groups: no template group given" else Ok(List.distinct gs))

/// The config a command line asks for: `--config FILE`'s (else `Defaults.train`) with the options
/// given on the line put over it; one line for the first invalid value, or for an option (given on
/// the line, or a field of the file that is not its default) that does not apply to the run the
/// others describe.
let toConfig (r: ParseResults<TrainArgs>) : Result<TrainConfig, string> =
    let given check fallback value = optional check value |> Result.map (Option.defaultValue fallback)
    let over fallback check value = optional check value |> Result.map (Option.orElse fallback)
    result {
        let! d, fromFile =
            match r.TryGetResult Config with
            | Some file -> ConfigFile.read file |> Result.map (fun (c, fields) -> c, Some(file, fields))
            | None -> Ok(Defaults.train, None)
        let! ablation = r.TryGetResult TrainArgs.Ablation |> given (Ablation.parse >> Result.mapError (fun e -> $"--ablation: {e}")) d.Ablation
        let! model = r.TryGetResult Model |> given (ofChoice "model" TrainChecks.Choices.model) d.Model
        let! size = r.TryGetResult Size |> over d.PaperSize (ofChoice "size" TrainChecks.Choices.size)
        let! stack = r.TryGetResult Stack |> given (ofChoice "stack" TrainChecks.Choices.stack) d.Stack
        let! initialisation = r.TryGetResult Init |> given (ofChoice "init" TrainChecks.Choices.init) d.Initialisation
        let! pointer = r.TryGetResult Pointer |> over d.Pointer (ofChoice "pointer" TrainChecks.Choices.pointer)
        let! device = match r.TryGetResult TrainArgs.Device with Some _ as text -> device text | None -> Ok d.Device
        let! parallelism = r.TryGetResult Parallel |> over d.Parallelism (ofChoice "parallel" TrainChecks.Choices.parallelism)
        let fraction =
            r.TryGetResult Arch_Fraction
            |> Option.defaultValue (match d.ArchitectureSplit with HeldOutOfTrain f -> f | ValidationLeaky -> Defaults.architectureFraction)
        let! archSplit =
            r.TryGetResult Arch_Split
            |> given (ofChoice "arch-split" [ "heldout", HeldOutOfTrain fraction; "val", ValidationLeaky ])
                (match d.ArchitectureSplit with HeldOutOfTrain _ -> HeldOutOfTrain fraction | ValidationLeaky -> ValidationLeaky)
        let! scaling = r.TryGetResult Entropy_Scaling |> given (ofChoice "entropy-scaling" TrainChecks.Choices.entropyScaling) d.EntropyScaling
        let! decay = r.TryGetResult Lr_Decay |> given (ofChoice "lr-decay" TrainChecks.Choices.lrDecay) d.LearningRateDecay
        let! alphaPreset = r.TryGetResult Alpha_Preset |> over d.AlphaPreset AlphaStart.parse
        let! pooling = r.TryGetResult Answer_Pooling |> over d.AnswerPooling (ofChoice "answer-pooling" TrainChecks.Choices.answerPooling)
        let! cellInputs = r.TryGetResult Cell_Inputs |> over d.CellInputs (ofChoice "cell-inputs" TrainChecks.Choices.cellInputs)
        let! describeReadout = r.TryGetResult Describe_Readout |> over d.DescribeReadout (ofChoice "describe-readout" TrainChecks.Choices.describeReadout)
        let! nodeMix = r.TryGetResult Node_Mix |> over d.NodeMix (ofChoice "node-mix" TrainChecks.Choices.nodeMix)
        let! stackStart = r.TryGetResult Stack_Start |> over d.StackStart (ofChoice "stack-start" TrainChecks.Choices.stackStart)
        let! alphaRule = r.TryGetResult Alpha_Schedule |> given (ofChoice "alpha-schedule" TrainChecks.Choices.alphaSchedule) d.AlphaRule
        let config =
            { Ablation = ablation
              Model = model
              Data = r.TryGetResult TrainArgs.Data |> Option.orElse d.Data
              Epochs = r.TryGetResult TrainArgs.Epochs |> Option.orElse d.Epochs
              Questions = r.TryGetResult TrainArgs.Questions |> Option.orElse d.Questions
              BatchSize = r.GetResult(Batch_Size, d.BatchSize)
              Steps = r.GetResult(Steps, d.Steps)
              StackLength = r.GetResult(Stack_Length, d.StackLength)
              MapDim = r.TryGetResult Map_Dim |> Option.orElse d.MapDim
              Width = r.TryGetResult Width |> Option.orElse d.Width
              PaperSize = size
              Stack = stack
              Initialisation = initialisation
              Pointer = pointer
              Seed = r.GetResult(TrainArgs.Seed, d.Seed)
              Device = device
              Threads = r.TryGetResult TrainArgs.Threads |> Option.orElse d.Threads
              Parallelism = parallelism
              RunDir = r.TryGetResult Run_Dir |> Option.orElse d.RunDir
              Resume = r.Contains Resume || d.Resume
              FineTuneFrom = r.TryGetResult Finetune_From |> Option.orElse d.FineTuneFrom
              ArchitectureSplit = archSplit
              Unrolled = r.Contains Unrolled || d.Unrolled
              EntropyScaling = scaling
              LambdaWScale = r.TryGetResult Lambda_W_Scale |> Option.orElse d.LambdaWScale
              LearningRate = r.TryGetResult Lr |> Option.orElse d.LearningRate
              AlphaLearningRate = r.TryGetResult Alpha_Lr |> Option.orElse d.AlphaLearningRate
              AlphaRule = alphaRule
              AlphaWarmup = r.TryGetResult Alpha_Warmup |> Option.orElse d.AlphaWarmup
              AlphaInitScale = r.TryGetResult Alpha_Init |> Option.orElse d.AlphaInitScale
              AlphaPreset = alphaPreset
              AnswerPooling = pooling
              CellInputs = cellInputs
              DescribeReadout = describeReadout
              NodeMix = nodeMix
              StackStart = stackStart
              AlphaEvery = r.TryGetResult Alpha_Every |> Option.orElse d.AlphaEvery
              HardenAt = r.TryGetResult Harden_At |> Option.orElse d.HardenAt
              AnnealTo = r.TryGetResult Anneal_To |> Option.orElse d.AnnealTo
              LearningRateDecay = decay
              MaxSteps = r.TryGetResult TrainArgs.Max_Steps |> Option.orElse d.MaxSteps
              EvalEvery = r.TryGetResult TrainArgs.Eval_Every |> Option.orElse d.EvalEvery
              DryRun = r.Contains Dry_Run || d.DryRun
              VqaAnswers = r.GetResult(Vqa_Answers, d.VqaAnswers) }
        do! TrainChecks.check id config
        let onLine = r.GetAllResults() |> List.map (fun a -> r.Parser.GetArgumentCaseInfo(a).Name.Value) |> List.filter ((<>) "--config")
        // A file's field is checked as an option when it is not the default and the line does not replace it.
        let inFile =
            match fromFile with
            | Some(file, fields) ->
                let changed field = TrainChecks.fields |> List.filter (snd >> (=) field) |> List.forall (fun (o, _) -> not (List.contains o onLine))
                let defaults, read = Reflection.FSharpValue.GetRecordFields Defaults.train, Reflection.FSharpValue.GetRecordFields d
                let index field = Reflection.FSharpType.GetRecordFields typeof<TrainConfig> |> Array.findIndex (fun f -> f.Name = field)
                [ for field in fields do
                    if changed field && read[index field] <> defaults[index field] then
                        yield TrainChecks.optionOf field, $"{file}: {field}" ]
            | None -> []
        let refused =
            [ for o in onLine -> o, o ] @ inFile
            |> List.tryPick (fun (option, named) -> TrainChecks.notApplying config option |> Option.map (fun why -> $"{named} does not apply {why}"))
        match refused with
        | Some e -> return! Error e
        | None -> return config
    }

type CompareArgs =
    | Quick
    | Epochs of int
    | Max_Steps of int
    | Out of dir: string
    | Data of dir: string
    | Seed of int
    | Device of string
    | Threads of int
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Quick -> $"smoke size: {Defaults.Compare.quickEpochs} epoch, at most {Defaults.Compare.quickMaxSteps} weight steps per model (minutes in all)."
            | Epochs _ -> $"epochs per model, the same for every model (default: {Defaults.Compare.epochsOnBuiltIn} on the built-in dataset, the main job's budget; the trainer's default with --data)."
            | Max_Steps _ -> $"at most this many weight steps per model (default: none; {Defaults.Compare.quickMaxSteps} with --quick)."
            | Out _ -> $"output folder (default {Defaults.Compare.out}): comparison.md, .csv, .html, .png and runs/."
            | Data _ -> "a CLEVR-layout directory (default: the built-in dataset)."
            | Seed _ -> $"the one seed every model is trained with (default {Defaults.train.Seed})."
            | Device _ -> $"auto, cpu or cuda ({defaultIs TrainChecks.Choices.device Defaults.device})."
            | Threads _ -> "intra-op CPU threads."

/// A split `eval` or `report` can read.
let private split (r: string) = ofChoice "split" [ "val", "val"; "train", "train"; "test", "test" ] r

let toEvalConfig (r: ParseResults<EvalArgs>) : Result<EvalConfig, string> =
    result {
        let! split = split (r.GetResult(EvalArgs.Split, Defaults.Scoring.split))
        let! device = device (r.TryGetResult EvalArgs.Device)
        let! threads = optional (positive "threads") (r.TryGetResult EvalArgs.Threads)
        return
            { Checkpoint = r.GetResult EvalArgs.Checkpoint; Data = r.TryGetResult EvalArgs.Data; Split = split
              OpAblation = r.Contains Op_Ablation; Results = r.TryGetResult Results; Device = device; Threads = threads }
    }

let toReportConfig (r: ParseResults<ReportArgs>) : Result<ReportConfig, string> =
    result {
        let! split = split (r.GetResult(ReportArgs.Split, Defaults.Scoring.split))
        let! igSteps = positive "ig-steps" (r.GetResult(Ig_Steps, Defaults.Scoring.igSteps))
        let pictures = r.GetResult(Pictures, Defaults.Scoring.pictures)
        do! if pictures >= 0 then Ok() else Error $"--pictures must not be negative (got {pictures})"
        let! questions = optional (positive "questions") (r.TryGetResult Questions)
        let! device = device (r.TryGetResult ReportArgs.Device)
        let! threads = optional (positive "threads") (r.TryGetResult ReportArgs.Threads)
        return
            { Target = r.GetResult Target; Out = r.TryGetResult ReportArgs.Out; Data = r.TryGetResult ReportArgs.Data; Split = split
              IgSteps = igSteps; Questions = questions; Pictures = pictures; Device = device; Threads = threads }
    }

let toCompareConfig (r: ParseResults<CompareArgs>) : Result<CompareConfig, string> =
    let quick = r.Contains Quick
    result {
        let! epochs =
            r.TryGetResult CompareArgs.Epochs
            |> Option.orElse (if quick then Some Defaults.Compare.quickEpochs elif r.Contains CompareArgs.Data then None else Some Defaults.Compare.epochsOnBuiltIn)
            |> optional (positive "epochs")
        let! maxSteps = r.TryGetResult CompareArgs.Max_Steps |> Option.orElse (if quick then Some Defaults.Compare.quickMaxSteps else None) |> optional (positive "max-steps")
        let! device = device (r.TryGetResult CompareArgs.Device)
        let! threads = optional (positive "threads") (r.TryGetResult CompareArgs.Threads)
        return
            { Epochs = epochs; MaxSteps = maxSteps; Out = r.GetResult(CompareArgs.Out, Defaults.Compare.out); Data = r.TryGetResult CompareArgs.Data
              Seed = r.GetResult(CompareArgs.Seed, Defaults.train.Seed); Device = device; Threads = threads }
    }

let toValidateConfig (r: ParseResults<ValidateArgs>) : ValidateConfig = { Directory = r.GetResult Directory }

let toGenerateConfig (r: ParseResults<GenerateArgs>) : Result<GenerateConfig, string> =
    let d = BuiltInOptions.defaults
    result {
        let! trainScenes = positive "train-scenes" (r.GetResult(Train_Scenes, d.TrainScenes))
        let! valScenes = positive "val-scenes" (r.GetResult(Val_Scenes, d.ValScenes))
        let! perScene = positive "questions-per-scene" (r.GetResult(Questions_Per_Scene, d.QuestionsPerScene))
        let! groups = match r.TryGetResult Groups with Some g -> templateGroups g | None -> Ok d.Groups
        return
            { Out = r.GetResult GenerateArgs.Out
              Options =
                { d with TrainScenes = trainScenes; ValScenes = valScenes; QuestionsPerScene = perScene; Groups = groups
                         Seed = r.GetResult(GenerateArgs.Seed, d.Seed) } }
    }

let toLearningCurveConfig (r: ParseResults<LearningCurveArgs>) : Result<LearningCurveConfig, string> =
    result {
        let! every = positive "eval-every" (r.GetResult(LearningCurveArgs.Eval_Every, Defaults.LearningCurve.evalEvery))
        let! epochs = optional (positive "epochs") (r.TryGetResult LearningCurveArgs.Epochs)
        let! maxSteps = optional (positive "max-steps") (r.TryGetResult LearningCurveArgs.Max_Steps)
        let shared =
            { Defaults.train with
                Seed = r.GetResult(LearningCurveArgs.Seed, Defaults.train.Seed)
                Data = r.TryGetResult LearningCurveArgs.Data
                Epochs = epochs
                MaxSteps = maxSteps }
        return { Out = r.GetResult(LearningCurveArgs.Out, Defaults.LearningCurve.out); Shared = shared; EvalEvery = every }
    }

let toExportConfig (r: ParseResults<ExportArgs>) : Result<ExportConfig, string> =
    result {
        let! format = r.TryGetResult Format |> optional (ofChoice "format" TrainChecks.Choices.weightsFormat)
        return { Checkpoint = r.GetResult ExportArgs.Checkpoint; Format = defaultArg format Defaults.Export.format; Out = r.GetResult ExportArgs.Out }
    }

let toImportConfig (r: ParseResults<ImportArgs>) : ImportConfig = { Weights = r.GetResult Weights; Out = r.GetResult ImportArgs.Out }
