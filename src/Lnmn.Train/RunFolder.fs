/// A run folder: resolved config and spec, vocabularies, metrics (JSONL), TensorBoard events,
/// checkpoints and evaluation tables.
///
///   config.json            the run's settings (a `--config` file, `ConfigFile`); under Recorded: git commit, dataset
///   spec.json              the ModelSpec
///   metrics-steps.jsonl    one line per weight step
///   metrics-epochs.jsonl   one line per epoch (train and val accuracy)
///   metrics-evals.jsonl    val accuracy every --eval-every steps, with questions seen and seconds
///   tensorboard/           `tensorboard --logdir <run>/tensorboard`
///   checkpoints/last.ckpt  the latest checkpoint (atomic)
///   eval.md, eval.json     the evaluation table (VQA: per answer type and per question type)
///   vqa_OpenEnded_mscoco_<split>_lnmn_results.json   VQA: the test split's predictions
///   alpha.md               each module's formula, and softmax(α) of every node
///   genotype-start.json    the architecture α started from, before the first step (`Genotype`)
///   genotype.json          the learned architecture: each cell's op per node and softmax(α) (`Genotype`)
///   alpha.html, curves.html  the α heat map and the accuracy curves (open in a browser)
///   result.json            the finished run (`RunResult`): settings, spec, scores, steps, seconds, evaluation curve;
///                          written last, so the one sign that the run is finished (`readResult`)
module Lnmn.Train.RunFolder

open System
open System.IO
open System.Text.Json
open TorchSharp
open Lnmn.Train.Configs

type Paths =
    { Root: string
      Config: string
      Spec: string
      StepMetrics: string
      EpochMetrics: string
      EvalMetrics: string
      TensorBoard: string
      Checkpoint: string
      EvalMarkdown: string
      EvalJson: string
      Alpha: string
      StartGenotype: string
      Genotype: string
      AlphaPlot: string
      CurvesPlot: string
      Result: string }

let paths (root: string) =
    { Root = root
      Config = Path.Combine(root, "config.json")
      Spec = Path.Combine(root, "spec.json")
      StepMetrics = Path.Combine(root, "metrics-steps.jsonl")
      EpochMetrics = Path.Combine(root, "metrics-epochs.jsonl")
      EvalMetrics = Path.Combine(root, "metrics-evals.jsonl")
      TensorBoard = Path.Combine(root, "tensorboard")
      Checkpoint = Path.Combine(root, "checkpoints", "last.ckpt")
      EvalMarkdown = Path.Combine(root, "eval.md")
      EvalJson = Path.Combine(root, "eval.json")
      Alpha = Path.Combine(root, "alpha.md")
      StartGenotype = Path.Combine(root, "genotype-start.json")
      Genotype = Path.Combine(root, "genotype.json")
      AlphaPlot = Path.Combine(root, "alpha.html")
      CurvesPlot = Path.Combine(root, "curves.html")
      Result = Path.Combine(root, "result.json") }

/// The settings the run in the folder was started with (its config.json), or why they do not read.
let readConfig (paths: Paths) : Result<TrainConfig, string> = ConfigFile.read paths.Config |> Result.map fst

/// The fields in which two configs differ.
let private differing (a: TrainConfig) (b: TrainConfig) =
    let values c = Reflection.FSharpValue.GetRecordFields c
    Array.zip3 (Reflection.FSharpType.GetRecordFields typeof<TrainConfig>) (values a) (values b)
    |> Array.filter (fun (_, x, y) -> x <> y)
    |> Array.map (fun (f, _, _) -> f.Name)

/// The folder's run when it is finished and is the run `config` asks for: result.json there, whole,
/// and recording the same settings (both as `ConfigFile.forRerun` writes them); else why not.
let readResult (root: string) (config: TrainConfig) : Result<RunResult.RunResult, string> =
    let file = (paths root).Result
    if not (File.Exists file) then Error $"{file}: no such file (the run has not finished)"
    else
        match RunResult.ofJson (File.ReadAllText file) with
        | Error why -> Error $"{file}: not a run's result ({why})"
        | Ok result when result.Config <> ConfigFile.forRerun config ->
            let fields = differing result.Config (ConfigFile.forRerun config) |> String.concat ", "
            Error $"{file}: a run with other settings ({fields})"
        | Ok result -> Ok result

/// Holds a run folder for one process: `.lock` is locked exclusively (the OS drops the lock when the
/// process ends, even by SIGKILL, so a killed run never blocks its resume) and `.lock-owner` says
/// who holds it. Error, in one line, when another live process holds the folder.
let lock (root: string) : Result<IDisposable, string> =
    Directory.CreateDirectory root |> ignore
    let owner = Path.Combine(root, ".lock-owner")
    try
        let held = new FileStream(Path.Combine(root, ".lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)
        File.WriteAllText(owner, $"{Environment.ProcessId} {Environment.MachineName} {DateTime.UtcNow:O}")
        Ok held
    with :? IOException ->
        let holder = try (File.ReadAllText owner).Split(' ').[0] with _ -> "another process"
        Error $"{root} is in use by process {holder}: wait for it to finish, or choose another --run-dir"

/// Keeps the lines of a JSONL file for which `keep` holds (on resume: those before the checkpoint).
/// A last line cut short (a write stopped by a full disk or a kill) is dropped; it is past the
/// checkpoint, whose metrics were fsynced whole before it was written.
let truncateJsonl (path: string) (keep: JsonElement -> bool) =
    if File.Exists path then
        let text = File.ReadAllText path
        let lines = text.Split('\n') |> Array.filter (fun l -> l <> "")
        let whole = if text.EndsWith "\n" || lines.Length = 0 then lines else lines.[.. lines.Length - 2]
        whole
        |> Array.filter (fun line -> use doc = JsonDocument.Parse line in keep (doc.RootElement.Clone()))
        |> fun lines -> Lnmn.Core.Data.AtomicFile.writeAllText path (String.concat "" (lines |> Array.map (fun l -> l + "\n")))

/// The JSONL files mirrored to TensorBoard: (file, tag prefix, the field that is the x axis).
let private mirrored (paths: Paths) =
    [ paths.StepMetrics, "step", "step"; paths.EpochMetrics, "epoch", "epoch"; paths.EvalMetrics, "eval", "step" ]

/// Appends JSON lines and mirrors numeric fields to TensorBoard. The events are made from the JSONL
/// files alone: on opening, the TensorBoard folder is rewritten from the lines already there (on
/// resume, those up to the checkpoint, which were fsynced before it), so a resumed run's events
/// have neither duplicates nor gaps past the checkpoint step.
type MetricsLog(paths: Paths) =
    do if Directory.Exists paths.TensorBoard then Directory.Delete(paths.TensorBoard, true)
    let board = torch.utils.tensorboard.SummaryWriter(paths.TensorBoard)
    let mirror (prefix: string) (step: int) (fields: (string * float) seq) =
        for k, v in fields do
            if Double.IsFinite v then board.add_scalar($"{prefix}/{k}", float32 v, step)
    do
        for file, prefix, axis in mirrored paths do
            if File.Exists file then
                for line in File.ReadAllLines file do
                    if line <> "" then
                        use doc = JsonDocument.Parse line
                        let e = doc.RootElement
                        mirror prefix (int (e.GetProperty(axis).GetDouble()))
                            [ for p in e.EnumerateObject() do if p.Value.ValueKind = JsonValueKind.Number then yield p.Name, p.Value.GetDouble() ]
    let steps = new StreamWriter(paths.StepMetrics, true)
    let epochs = new StreamWriter(paths.EpochMetrics, true)
    let evals = new StreamWriter(paths.EvalMetrics, true)
    let fileOf (writer: StreamWriter) = (writer.BaseStream :?> FileStream).Name
    let write (writer: StreamWriter) (prefix: string) (step: int) (fields: (string * float) list) (tags: (string * string) list) =
        // JSON has no infinity or NaN: such a value (a step's overflowing gradient) is written null.
        let number (v: float) = if Double.IsFinite v then JsonSerializer.Serialize v else "null"
        let numbers = fields |> List.map (fun (k, v) -> $"\"{k}\":{number v}")
        let texts = tags |> List.map (fun (k, v) -> $"\"{k}\":{JsonSerializer.Serialize v}")
        Lnmn.Core.Data.AtomicFile.failingForSpace (fileOf writer) (fun () ->
            writer.WriteLine("{" + String.concat "," (texts @ numbers) + "}")
            writer.Flush())
        Lnmn.Core.Data.AtomicFile.failingForSpace paths.TensorBoard (fun () -> mirror prefix step fields)

    /// Puts every line written so far on the disk (fsync), so that a checkpoint written next never
    /// claims a step whose metrics could still be lost.
    member _.Sync() =
        for writer in [ steps; epochs; evals ] do
            Lnmn.Core.Data.AtomicFile.failingForSpace (fileOf writer) (fun () ->
                writer.Flush()
                (writer.BaseStream :?> FileStream).Flush true)

    member _.Step(step: int, fields) = write steps "step" step (("step", float step) :: fields) []
    member _.Epoch(epoch: int, fields) = write epochs "epoch" epoch (("epoch", float epoch) :: fields) []
    member _.Evaluation(step: int, fields) = write evals "eval" step (("step", float step) :: fields) []

    interface IDisposable with
        member _.Dispose() =
            // Every line was flushed as it was written: a Dispose that fails can only follow a write
            // that failed, whose error is the one to report.
            for writer in [ steps; epochs; evals ] do
                try writer.Dispose() with :? IOException -> ()

/// One value per line of a JSONL file, made from the line's numeric fields (none if it is absent).
let private readNumbers (path: string) (row: (string -> float) -> 'T) =
    if not (File.Exists path) then []
    else
        [ for line in File.ReadAllLines path do
            if line <> "" then
                use doc = JsonDocument.Parse line
                let e = doc.RootElement
                yield row (fun name -> e.GetProperty(name).GetDouble()) ]

/// (epoch, train accuracy, validation accuracy) from metrics-epochs.jsonl.
let readEpochAccuracies (paths: Paths) =
    readNumbers paths.EpochMetrics (fun number -> int (number "epoch"), number "train_accuracy", number "val_accuracy")

/// (step, questions seen, training seconds, validation accuracy) from metrics-evals.jsonl.
let readEvaluations (paths: Paths) =
    readNumbers paths.EvalMetrics (fun number -> int (number "step"), number "questions", number "seconds", number "val_accuracy")
