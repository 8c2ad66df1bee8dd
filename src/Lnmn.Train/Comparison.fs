/// `lnmn-train compare`: Stack-NMN, LNMN-9 / 11 / 14 and the paper's ablations trained one after
/// another with one seed and the same budget, scored on the validation split, and written side by
/// side in the layout of the paper's Tables 1 and 2 (comparison.md, .csv, .html, .png).
/// A model whose run folder holds its finished run (result.json, of the same settings) is not
/// retrained; one with a checkpoint of the same settings is resumed.
module Lnmn.Train.Comparison

open System
open System.IO
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Data
open Lnmn.Core.Training
open Lnmn.Analysis.ComparisonReport
open Lnmn.Train.Configs

/// One model of the comparison (or of the learning curves): what it changes in the options every model shares.
type Entry = { Key: string; Label: string; Variant: TrainConfig -> TrainConfig }

/// Table 2 narrows map_dim from 384 to 256 as it deepens T and L to 9: two thirds of the original
/// setting's width (256 at the paper's size; a literal 256 would make the built-in size 8× wider).
let narrower (mapDim: int) = max 1 (mapDim * 2 / 3)

/// `builtInData`: whether the data was made by the built-in generator (the original width depends on it).
let entries (builtInData: bool) =
    let lnmn ablation (c: TrainConfig) = { c with Model = Lnmn; Ablation = ablation }
    [ { Key = "stack-nmn"; Label = "Stack-NMN (9 mod.)"; Variant = fun c -> { c with Model = StackNmn } }
      { Key = "stack-nmn-soft"; Label = "Stack-NMN, soft pointer"; Variant = fun c -> { c with Model = StackNmn; Pointer = Some PointerSharpening.lnmn } }
      { Key = "lnmn-9"; Label = "LNMN (9 modules)"; Variant = lnmn Ablation9 }
      { Key = "lnmn-11"; Label = "LNMN (11 modules)"; Variant = lnmn Ablation11 }
      { Key = "lnmn-14"; Label = "LNMN (14 modules)"; Variant = lnmn Ablation14 }
      { Key = "lnmn-11-push"; Label = "LNMN (11 modules), push stack"; Variant = fun c -> { lnmn Ablation11 c with Stack = Push } }
      { Key = "lnmn-11-t9"; Label = "T = 9, L = 9, map_dim narrowed"
        Variant = fun c -> { lnmn Ablation11 c with Steps = 9; StackLength = 9; MapDim = Some(narrower (Defaults.mapDim c builtInData)) } }
      { Key = "concat-11"; Label = "Concatenate all inputs followed by conv. layer"; Variant = fun c -> { c with Model = ConcatCells; Ablation = Ablation11 } } ]

/// The paper's numbers (overall and the five categories): Table 1 on CLEVR test, Table 2 on val.
let paperTable1 =
    [ "Stack-NMN (9 mod.)", [ 91.41; 81.78; 95.78; 85.23; 95.45; 95.68 ]
      "LNMN (9 modules)", [ 89.88; 84.28; 93.74; 89.63; 89.64; 94.84 ]
      "LNMN (11 modules)", [ 90.52; 84.91; 95.21; 91.06; 90.03; 94.97 ]
      "LNMN (14 modules)", [ 90.42; 84.79; 95.52; 90.52; 89.73; 95.26 ] ]

let paperTable2 =
    [ "Original setting (T = 5, L = 5, map_dim = 384)", [ 89.78; 84.54; 93.46; 88.70; 89.59; 94.87 ]
      "Use hard-max for operation weights (for inference only)", [ 87.99; 81.53; 94.11; 87.70; 88.27; 91.55 ]
      "T = 9, L = 9, map_dim = 256", [ 89.96; 84.03; 93.45; 89.98; 90.75; 93.10 ]
      "Concatenate all inputs followed by conv. layer", [ 47.03; 42.5; 61.15; 68.64; 38.06; 49.43 ] ]

let private budgetText (s: CompareConfig) =
    let show (v: int option) = v |> Option.map string |> Option.defaultValue "default"
    $"epochs {show s.Epochs}, max weight steps {show s.MaxSteps}, seed {s.Seed}"

/// The options every model of the comparison shares.
let shared (s: CompareConfig) : TrainConfig =
    { Defaults.train with Data = s.Data; Epochs = s.Epochs; MaxSteps = s.MaxSteps; Seed = s.Seed; Device = s.Device; Threads = s.Threads }

/// The model's run as the comparison asks for it, in `s.Out`/runs/KEY.
let config (s: CompareConfig) (entry: Entry) =
    { entry.Variant (shared s) with RunDir = Some(Path.Combine(s.Out, "runs", entry.Key)) }

/// Whether the data in `data` (None: the built-in dataset) was made by the built-in generator.
let private builtInAt (data: string option) =
    TrainingData.madeByGenerator (TrainingData.ofDataOption data)

/// The model today's defaults give `asked`, on data of `stored`'s dims (a run's spec.json: the
/// dims are the data's; the genotype file a run started from is its own).
let private todaysSpec (asked: TrainConfig) (stored: ModelSpec) =
    let d = stored.Dims
    let builtIn = builtInAt asked.Data
    let facts: Defaults.DataFacts =
        { BuiltIn = builtIn; Vqa = false; Answers = d.Answers; Words = d.Vocabulary; Channels = d.InputChannels
          Height = d.GridHeight; Width = d.GridWidth; TrainExamples = 0 }
    { Defaults.modelSpec asked facts with AlphaPreset = stored.AlphaPreset }

/// Whether the run folder's spec.json is the model today's defaults give `asked`: a run begun
/// before a default changed (the built-in answer pooling, say) is not this build's run of it.
let private specIsTodays (root: string) (asked: TrainConfig) =
    let file = (RunFolder.paths root).Spec
    File.Exists file
    && (try let stored = SpecJson.deserialize<ModelSpec> (File.ReadAllText file) in stored = todaysSpec asked stored with _ -> false)

/// `RunFolder.readResult`, and the run trained the model today's defaults give its settings.
let currentResult (root: string) (asked: TrainConfig) : Result<RunResult.RunResult, string> =
    RunFolder.readResult root asked
    |> Result.bind (fun finished ->
        if finished.Spec = todaysSpec asked finished.Spec then Ok finished
        else Error $"{(RunFolder.paths root).Result}: trained before a default changed (its model is not the one these settings give today)")

/// The model's finished run: found in its folder (`currentResult`), or trained, resumed when the
/// folder holds a checkpoint of the same settings and model, else from the start.
let private runEntry (s: CompareConfig) (entry: Entry) : Result<RunResult.RunResult, string> =
    let asked = config s entry
    let root = asked.RunDir.Value
    match currentResult root asked with
    | Ok finished ->
        printfn "%s: finished run in %s reused" entry.Key root
        Ok finished
    | Error unfinished ->
        let paths = RunFolder.paths root
        let resumable = File.Exists paths.Checkpoint && RunFolder.readConfig paths = Ok(ConfigFile.forRerun asked) && specIsTodays root asked
        if Directory.Exists root && not resumable then
            printfn "%s: %s: started again" entry.Key unfinished
            Directory.Delete(root, true)
        printfn "\n== %s%s" entry.Key (if resumable then " (resumed)" else "")
        Trainer.run { asked with Resume = resumable }
        |> Result.bind (function Some finished -> Ok finished | None -> RunFolder.readResult root asked)
        |> Result.mapError (fun e -> $"{entry.Key}: {e}")

/// Every entry's finished run, in order: found, resumed or trained; the first failure stops it.
let results (s: CompareConfig) (entries: Entry list) : Result<(Entry * RunResult.RunResult) list, string> =
    entries |> Result.traverse (fun e -> runEntry s e |> Result.map (fun r -> e, r))

/// A model's rows of the comparison, one per evaluation of its α (soft and hard-max, or its one score).
let scored (entry: Entry) (result: RunResult.RunResult) : Result<Scored list, string> =
    match result.Scores with
    | RunResult.Categories evaluations ->
        Ok [ for e in evaluations ->
               { Model = entry.Key; Label = entry.Label; Evaluation = e.Evaluation; Breakdown = e.Breakdown; WeightSteps = result.Steps; Seconds = result.Seconds } ]
    | RunResult.Vqa _ -> Error $"{entry.Key}: compare tabulates CLEVR's question categories, and this run was scored on VQA"

/// `ordered`: (key, (the run's settings, its rows)) in `entries` order.
let private markdown (s: CompareConfig) (builtInData: bool) (dataLabel: string) (ordered: (string * (TrainConfig * Scored list)) list) =
    let results = Map.ofList ordered
    let row key evaluation = results.[key] |> snd |> List.find (fun r -> r.Evaluation = evaluation)
    // A model's soft-α score, or its one score without α: its first row.
    let soft key = let r = results.[key] |> snd |> List.head in r.Label, percentages r.Breakdown
    let setting key = let c = fst results.[key] in $"T = {c.Steps}, L = {c.StackLength}, map_dim = {Defaults.mapDim c builtInData}"
    let table1 = [ for key in [ "stack-nmn"; "stack-nmn-soft"; "lnmn-9"; "lnmn-11"; "lnmn-14"; "lnmn-11-push" ] -> soft key ]
    let original = setting "lnmn-11"
    let table2 =
        [ $"Original setting ({original})", snd (soft "lnmn-11")
          $"Use hard-max for operation weights (for inference only) ({original})", percentages (row "lnmn-11" Evaluation.AlphaEvaluation.HardMax).Breakdown
          setting "lnmn-11-t9" + " (map_dim two thirds of the original, as 256 is of 384)", snd (soft "lnmn-11-t9")
          fst (soft "concat-11"), snd (soft "concat-11") ]
    let hardMax = hardMaxTable [ for key, (_, rows) in ordered -> key, rows ]
    let questions = (row "lnmn-11" Evaluation.AlphaEvaluation.Soft).Breakdown.Overall.Total
    let budget = budgetTable [ for key, (_, rows) in ordered -> key, rows ]
    String.concat "\n"
        [ "# Stack-NMN, LNMN and the paper's ablations, side by side"
          ""
          $"Data: {dataLabel}; scored on its validation split ({questions} questions). One seed, the same budget for every model ({budgetText s});"
          "α fitted on a held-out slice of train. The paper reports Table 1 on CLEVR test and Table 2 on CLEVR val, after about 30 epochs of"
          "700K questions: its numbers are listed below each table for reference, not as a like-for-like comparison."
          ""
          "## Table 1 layout: hand-designed modules against learned ones (soft α)"
          ""
          markdownTable table1
          ""
          "Paper (CLEVR test):"
          ""
          markdownTable paperTable1
          ""
          "## Table 2 layout: ablations of LNMN (11 modules)"
          ""
          markdownTable table2
          ""
          "Paper (CLEVR val):"
          ""
          markdownTable paperTable2
          ""
          "## Hard-max α at inference, every LNMN model (overall %)"
          ""
          hardMax
          ""
          "## Budget spent"
          ""
          budget
          "" ]

/// Trains and scores every entry, then writes the report into `s.Out`.
let run (s: CompareConfig) : Result<string list, string> =
    let builtInData = builtInAt s.Data
    result {
        let! finished = results s (entries builtInData)
        let! ordered =
            finished |> Result.traverse (fun (entry, r) -> scored entry r |> Result.map (fun rows -> entry.Key, (r.Config, rows)))
        let rows = ordered |> List.collect (fun (_, (_, rows)) -> rows)
        let dataLabel = s.Data |> Option.defaultValue "the built-in dataset"
        let file name = Path.Combine(s.Out, name)
        AtomicFile.writeAllText (file "comparison.md") (markdown s builtInData dataLabel ordered)
        AtomicFile.writeAllText (file "comparison.csv") (csv rows)
        let bars = rows |> List.map (fun r -> (if r.Evaluation = Evaluation.AlphaEvaluation.HardMax then $"{r.Label}, {Evaluation.AlphaEvaluation.label r.Evaluation}" else r.Label), percentages r.Breakdown)
        let figure = barChart $"Accuracy on the validation split ({dataLabel}, {budgetText s})" bars
        let page = Lnmn.Analysis.Plots.selfContained figure
        AtomicFile.writeAllText (file "comparison.html") page
        let png = Lnmn.Analysis.Chromium.plotPng (Lnmn.Analysis.Chromium.find ()) page figure (file "comparison.png")
        return
            [ file "comparison.md"; file "comparison.csv"; file "comparison.html" ]
            @ (match png with Ok p -> [ p ] | Error why -> [ $"(no PNG: {why})" ])
    }
