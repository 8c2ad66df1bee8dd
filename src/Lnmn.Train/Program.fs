/// `lnmn-train [options]` trains; `lnmn-train eval …` scores a checkpoint; `lnmn-train validate DIR`
/// checks a dataset directory; `lnmn-train compare` trains and tabulates the baselines side by side;
/// `lnmn-train report RUN` reads back what a trained run computes.
/// A user's mistake ends in one line on stderr and a non-zero exit.
module Lnmn.Train.Program

open System
open Argu
open TorchSharp
open Lnmn.Core
open Lnmn.Core.Data
open Lnmn.Core.Network
open Lnmn.Core.Training
open Lnmn.Train.Options

let private fail (message: string) =
    eprintfn "lnmn-train: %s" message
    1

/// `help`: what `--help` says before the options.
let private parseWith<'T when 'T :> IArgParserTemplate> (help: string option) name (argv: string[]) =
    let parser = ArgumentParser.Create<'T>(programName = name, ?helpTextMessage = help, errorHandler = ProcessExiter())
    parser.ParseCommandLine(argv)

let private parse<'T when 'T :> IArgParserTemplate> name argv = parseWith<'T> None name argv

let private train (help: string) argv =
    let parsed = parseWith<TrainArgs> (Some help) "lnmn-train" argv
    match toConfig parsed |> Result.bind Trainer.run with
    | Ok _ -> 0
    | Error e -> fail e

let private evaluate argv =
    let outcome =
        result {
            let! config = parse<EvalArgs> "lnmn-train eval" argv |> toEvalConfig
            let path = config.Checkpoint
            use! loaded = Loaded.openCheckpoint path config.Data config.Device config.Threads
            let! source = Loaded.split loaded config.Split
            let device, network, metadata, label = loaded.Device, loaded.Network, loaded.Metadata, loaded.Data.Directory
            let vqa = Batching.isVqa source
            let unanswered = vqa && source.Examples[0].Vqa.Value.HumanAnswers.Length = 0
            do! if config.OpAblation && vqa then Error "--op-ablation scores CLEVR's categories; it does not apply to VQA" else Ok()
            do! if config.Results.IsSome && not vqa then Error "--results writes VQA predictions; this is not a VQA dataset" else Ok()
            let scored =
                if unanswered then $"{path} on {label}: {source.Examples.Length} test questions, no annotations to score"
                else
                    let table, _ = Scoring.evaluation device network metadata.Training.BatchSize source
                    $"{path} on {label} ({source.Examples.Length} questions)\n\n{table}"
            printfn "%s" scored
            config.Results
            |> Option.iter (fun file ->
                AtomicFile.writeAllText file (Scoring.vqaResults device network metadata.Training.BatchSize source loaded.Dataset.Vocabulary.Answers)
                printfn "results: %s" file)
            if config.OpAblation && not (Lnmn.Core.Specs.ModelSpec.hasAlpha network.Spec) then
                printfn "\nthis model has no α (hand-designed or concatenation cells): no op ablation"
            elif config.OpAblation then
                printfn "\nops removed from every node (soft α):\n\n%s"
                    (Lnmn.Analysis.Table.markdown (Lnmn.Analysis.ScoreTables.opAblation (Scoring.opAblation device network metadata.Training.BatchSize source)))
        }
    match outcome with
    | Ok() -> 0
    | Error e -> fail e

/// Prints the files a command wrote, one a line, or fails with its error.
let private printed (outcome: Result<string list, string>) =
    match outcome with
    | Ok written ->
        for f in written do printfn "%s" f
        0
    | Error e -> fail e

let private compare argv =
    parse<CompareArgs> "lnmn-train compare" argv |> toCompareConfig |> Result.bind Comparison.run |> printed

let private report argv =
    match parse<ReportArgs> "lnmn-train report" argv |> toReportConfig |> Result.bind Report.run with
    | Ok dir ->
        printfn "report: %s" (IO.Path.Combine(dir, "index.html"))
        0
    | Error e -> fail e

let private generate argv =
    let outcome =
        result {
            let! config = parse<GenerateArgs> "lnmn-train generate" argv |> toGenerateConfig
            let dir, options = config.Out, config.Options
            do! if IO.Directory.Exists dir || IO.File.Exists dir then Error $"{dir}: already exists (generate writes a new directory)" else Ok()
            let watch = Diagnostics.Stopwatch.StartNew()
            BuiltIn.generate options dir
            let count split = DatasetLayout.questionsFile dir split |> ClevrJson.readQuestions |> Seq.length
            let trainQuestions, valQuestions = count "train", count "val"
            return $"{dir}: {options.TrainScenes} train scenes ({trainQuestions} questions), {options.ValScenes} validation scenes ({valQuestions} questions) in {watch.Elapsed.TotalSeconds:F1} s"
        }
    match outcome with
    | Ok line ->
        printfn "%s" line
        0
    | Error e -> fail e

let private learningCurve argv =
    parse<LearningCurveArgs> "lnmn-train learning-curve" argv |> toLearningCurveConfig |> Result.bind LearningCurve.run |> printed

let private export argv =
    parse<ExportArgs> "lnmn-train export" argv |> toExportConfig
    |> Result.bind (fun c -> Exported.export c.Checkpoint c.Format c.Out)
    |> printed

let private import argv =
    let config = parse<ImportArgs> "lnmn-train import" argv |> toImportConfig
    Exported.import config.Weights config.Out |> Result.map List.singleton |> printed

let private validate argv =
    let dir = (parse<ValidateArgs> "lnmn-train validate" argv |> toValidateConfig).Directory
    Validate.layout dir |> Option.iter (printfn "%s: read as %s" dir)
    match Validate.directory dir with
    | [] ->
        printfn "%s: ok" dir
        for line in Validate.balanceReport dir do printfn "answer balance, %s" line
        0
    | problems ->
        for p in problems do eprintfn "%s" p
        1

/// Every command but training: its name, what `lnmn-train --help` says of it, and what runs it. The
/// help and the dispatch both read this list.
let private commands: (string * string * (string[] -> int)) list =
    [ "eval", "eval --checkpoint CKPT       score a checkpoint: soft and hard-max α, per category; --op-ablation (Table 7)", evaluate
      "report", "report RUN|CKPT              tables, formulas, α and IG heat maps, attention maps, curves as HTML and PNG", report
      "compare", "compare                      Stack-NMN, LNMN-9/11/14 and the paper's ablations, one seed, equal budgets", compare
      "learning-curve", "learning-curve               LNMN-11 and Stack-NMN side by side: accuracy against questions seen and time", learningCurve
      "generate", "generate --out DIR           write a built-in dataset in CLEVR's layout", generate
      "validate", "validate DIR                 check a dataset directory", validate
      "export", "export CKPT --out FILE       the weights as safetensors or (--format pytorch) a PyTorch state dict, spec beside", export
      "import", "import FILE --out CKPT       a checkpoint from exported weights", import ]

let private trainingHelp =
    "lnmn-train [options] trains (options below). Other commands, each with its own --help:\n"
    + String.concat "\n" [ for _, synopsis, _ in commands -> "  " + synopsis ]

[<EntryPoint>]
let main argv =
    try
        let command = if argv.Length = 0 then None else commands |> List.tryFind (fun (name, _, _) -> name = argv[0])
        match command with
        | Some(_, _, run) -> run argv[1..]
        | None -> train trainingHelp argv
    with
    | :? ArguParseException as e -> fail e.Message
    | DataException e -> fail (DataError.describe e)
    | NoSpaceLeft path -> fail $"{path}: no space left on device"
    | :? IO.IOException as e -> fail e.Message
