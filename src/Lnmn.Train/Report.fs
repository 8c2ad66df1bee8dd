/// `lnmn-train report`: what a trained run computes, read back into one folder: index.html with
/// every table inline and links to its Markdown and CSV, and the pictures as HTML and (with
/// Chromium on PATH) PNG. Written to a temporary folder, then renamed into place.
module Lnmn.Train.Report

open System
open System.IO
open TorchSharp
open Lnmn.Core
open Lnmn.Core.Data
open Lnmn.Core.Network
open Lnmn.Core.Training
open Lnmn.Analysis
open Lnmn.Analysis.ReportPage
open Lnmn.Train.Configs

/// The checkpoint to read, and the run folder around it, if any (for its curves).
let resolve (target: string) : Result<string * RunFolder.Paths option, string> =
    if Directory.Exists target then
        let p = RunFolder.paths target
        if File.Exists p.Checkpoint then Ok(p.Checkpoint, Some p)
        else Error $"{target}: a folder without checkpoints/last.ckpt (not a run folder)"
    elif File.Exists target then
        let full = Path.GetFullPath target
        let around = Path.GetDirectoryName(Path.GetDirectoryName full) |> Option.ofObj |> Option.map RunFolder.paths
        Ok(target, around |> Option.filter (fun p -> p.Checkpoint = full && File.Exists p.EpochMetrics))
    else Error $"{target}: no such run folder or checkpoint"

let defaultOut (target: string) (run: RunFolder.Paths option) =
    match run with
    | Some p when Directory.Exists target -> Path.Combine(p.Root, "report")
    | _ -> Path.ChangeExtension(target, null) + "-report"

/// A table written as NAME.md and NAME.csv, shown in index.html.
let private tableSection (dir: string) (name: string) heading note (table: Table.Table) extraLinks images =
    File.WriteAllText(Path.Combine(dir, name + ".md"), Table.markdown table + "\n")
    File.WriteAllText(Path.Combine(dir, name + ".csv"), Table.csv table)
    { Heading = heading; Note = note; Table = Some table
      Links = [ "Markdown", name + ".md"; "CSV", name + ".csv" ] @ extraLinks; Images = images }

/// A picture of the report, written as NAME.html (and NAME.png with a browser).
type private Picture = { Name: string; Figure: Plots.Figure }

/// The PNGs a section shows: none without a browser.
let private pngs (browser: string option) (pictures: Picture list) =
    if browser.IsSome then pictures |> List.map (fun p -> p.Name + ".png") else []

/// Writes every picture's HTML, then (with a browser) its PNG.
let private drawPictures (dir: string) (browser: string option) (pictures: Picture list) : Result<unit, string> =
    // plotly.js (3.6 MB) once, next to the pages, instead of inline in every page.
    File.WriteAllText(Path.Combine(dir, "plotly.min.js"), Plots.plotlyJs ())
    let page (p: Picture) = Plots.sharingScript "plotly.min.js" p.Figure
    for p in pictures do File.WriteAllText(Path.Combine(dir, p.Name + ".html"), page p)
    match browser with
    | None -> Ok()
    | Some b ->
        let shoot (p: Picture) = Chromium.plotPng (Some b) (page p) p.Figure (Path.Combine(dir, p.Name + ".png")) |> Result.map ignore
        // One at a time: on two cores, browsers side by side were slower (measured).
        pictures |> List.fold (fun drawn p -> drawn |> Result.bind (fun () -> shoot p)) (Ok())

/// One section per pictured question, with its w(t) and its attention maps.
let private questionSections (browser: string option) (loaded: Loaded.Loaded) (source: Batching.Split) (count: int) =
    let count = min count source.Examples.Length
    if count = 0 then []
    else
        use _ = torch.no_grad ()
        let b = LabelledBatches.batch loaded.Device source (Array.init count id)
        let result = loaded.Network.Forward(b.Input, NodeOps.NodeEvaluation.soft)
        let predicted = result.Logits.argmax(-1L).cpu().data<int64>().ToArray()
        let answerName i = if i >= 0 && i < loaded.Metadata.Answers.Length then loaded.Metadata.Answers.[i] else "(none)"
        [ for i in 0 .. count - 1 ->
            let e = source.Examples.[i]
            let words = e.Tokens |> Array.map (fun t -> loaded.Metadata.Words.[t]) |> List.ofArray
            let trace = Trace.ofForward loaded.Network result i words
            let question = String.concat " " words
            let name = $"question-{i + 1}"
            let pictures =
                [ { Name = name + "-weights"; Figure = Plots.moduleWeightsFigure question trace }
                  { Name = name + "-attention"; Figure = Plots.attentionMapsFigure question trace } ]
            { Heading = $"Question {i + 1}: {question}"
              Note = $"answer {answerName e.Answer}, predicted {answerName (int predicted.[i])} (soft α). Module weights w(t) per step, and the map under the stack pointer after each step with the word the controller attended to most."
              Table = None
              Links = [ "w(t) (HTML)", name + "-weights.html"; "attention maps (HTML)", name + "-attention.html" ]
              Images = pngs browser pictures },
            pictures ]

/// The report's sections and pictures; tables are written to `dir` as they are made.
let private build (config: ReportConfig) (dir: string) (browser: string option) (loaded: Loaded.Loaded) (run: RunFolder.Paths option) =
    result {
        let! whole = Loaded.split loaded config.Split
        let source = { whole with Examples = Array.truncate (defaultArg config.Questions whole.Examples.Length) whole.Examples }
        let network, batchSize = loaded.Network, loaded.Metadata.Training.BatchSize
        let hasAlpha = Lnmn.Core.Specs.ModelSpec.hasAlpha network.Spec
        let vqa = Batching.isVqa source
        let questions = questionSections browser loaded source config.Pictures
        let epochs = run |> Option.map RunFolder.readEpochAccuracies |> Option.defaultValue []
        let curves = if epochs.IsEmpty then [] else [ { Name = "curves"; Figure = Plots.trainingCurvesFigure epochs } ]
        let schedule = { Name = "lambda-w"; Figure = Plots.entropyScheduleFigure () }
        let on = $"{config.Split} split, {source.Examples.Length} questions"
        let alphaParts =
            if not hasAlpha then []
            else
                let formulas = Extraction.extract network
                let readouts = AlphaReadout.read network
                // On VQA, p(correct answer) is that of the multiple-choice answer, where it is in the vocabulary.
                let answered = { source with Examples = source.Examples |> Array.filter (fun e -> e.Answer >= 0) }
                let batches = Batching.sequentialBatches batchSize answered.Examples.Length |> Seq.map (LabelledBatches.batch loaded.Device answered)
                let attributions = IntegratedGradients.byModule network (IntegratedGradients.attributionsOver network batches config.IgSteps)
                let alpha = { Name = "alpha"; Figure = Plots.alphaHeatmapFigure readouts }
                let ig = { Name = "ig"; Figure = Plots.attributionHeatmapFigure attributions }
                [ tableSection dir "formulas" "What each module computes (paper Table 6)" "The argmax op of every node, composed and simplified; each node's winning softmax weight shows how close to one-hot it is." (Extraction.table formulas) [] [], []
                  tableSection dir "alpha" "softmax(α) per module and node (paper Figure 3)" "Percent; the winning op in bold." (AlphaReadout.table readouts) [ "heat map (HTML)", "alpha.html" ] (pngs browser [ alpha ]), [ alpha ]
                  if not vqa then
                      let ablation = Scoring.opAblation loaded.Device network batchSize source
                      tableSection dir "op-ablation" "Ops removed from every node (paper Table 7)" $"On the {on}: softmax renormalised over the other five ops." (ScoreTables.opAblation ablation) [] [], []
                  tableSection dir "ig" "Integrated gradients of α (paper Table 5)" $"Attribution of each module's six α values to p(correct answer), zero baseline, {config.IgSteps} steps, summed over the module's nodes and the {on} (signed, as the paper's formula; the paper prints magnitudes)." (IntegratedGradients.table attributions) [ "heat map (HTML)", "ig.html" ] (pngs browser [ ig ]), [ ig ] ]
        let note =
            if hasAlpha then ": soft α as trained, and hard-max α (one-hot per node) at inference (paper Table 2)."
            else ". This model has no α (hand-designed modules or concatenation cells): no formulas, α, op ablation or integrated gradients."
        let evaluation =
            if vqa then
                let columns = Scoring.vqaSoftAndHardMax loaded.Device network batchSize source |> List.map (fun (e, b) -> ScoreTables.evalColumn e, b)
                [ tableSection dir "eval" "VQA accuracy per answer type (paper Table 4)" $"On the {on}{note}" (ScoreTables.vqaAnswerTypes columns) [] []
                  tableSection dir "eval-question-types" "VQA accuracy per question type (paper Tables 9 and 10)" $"On the {on}." (ScoreTables.vqaQuestionTypes columns) [] [] ]
            else
                let columns = Scoring.softAndHardMax loaded.Device network batchSize source |> List.map (fun (e, b) -> Evaluation.AlphaEvaluation.label e, b)
                [ tableSection dir "eval" "Accuracy" $"On the {on}{note}" (ScoreTables.accuracy columns) [] [] ]
        let sections =
            [ yield! evaluation
              yield! alphaParts |> List.map fst
              yield! List.map fst questions
              if not epochs.IsEmpty then
                  yield { Heading = "Training curves"; Note = "Train and validation accuracy per epoch, from the run's metrics-epochs.jsonl."; Table = None; Links = [ "HTML", "curves.html" ]; Images = pngs browser curves }
              yield { Heading = "λ_w schedule"; Note = $"The module-entropy weight per epoch over this run's {loaded.Metadata.Training.Epochs} epochs."; Table = None; Links = [ "HTML", "lambda-w.html" ]; Images = pngs browser [ schedule ] } ]
        do! drawPictures dir browser ((alphaParts |> List.collect snd) @ List.collect snd questions @ curves @ [ schedule ])
        return sections
    }

/// Writes the report; the folder appears whole or not at all. Returns the report folder.
let run (config: ReportConfig) : Result<string, string> =
    let started = Diagnostics.Stopwatch.StartNew()
    result {
        let! checkpoint, run = resolve config.Target
        let out = config.Out |> Option.defaultWith (fun () -> defaultOut config.Target run)
        do! if File.Exists out || (Directory.Exists out && not (File.Exists(Path.Combine(out, "index.html")))) then
                Error $"{out}: exists and is not an earlier report (no index.html); not replaced"
            else Ok()
        use! loaded = Loaded.openCheckpoint checkpoint config.Data config.Device config.Threads
        let probe = Chromium.usable ()
        let browser = match probe with Ok b -> Some b | Error _ -> None
        return!
            Data.AtomicFile.writeDirectory out (fun temporary ->
                try
                    build config temporary browser loaded run
                    |> Result.map (fun sections ->
                        let summary =
                            [ $"checkpoint: {checkpoint} (commit of this build: {BuildInfo.gitCommit})"
                              $"model: {loaded.Metadata.Model.Modules.Length} modules, {Specs.ModelSpec.nodeCount loaded.Metadata.Model} nodes; dataset: {loaded.Data.Directory}"
                              (match probe with
                               | Ok b -> $"PNGs drawn with {b}"
                               | Error why -> $"PNGs skipped: {why} (the HTML pictures are complete)")
                              $"written in {started.Elapsed.TotalSeconds:F0} s" ]
                        File.WriteAllText(Path.Combine(temporary, "index.html"), ReportPage.render "LNMN report" summary sections)
                        let markdown =
                            sections
                            |> List.choose (fun s -> s.Table |> Option.map (fun t -> $"## {s.Heading}\n\n{s.Note}\n\n{Table.markdown t}\n"))
                        File.WriteAllText(Path.Combine(temporary, "report.md"), "# LNMN report\n\n" + String.concat "" (summary |> List.map (fun l -> $"- {l}\n")) + "\n" + String.concat "\n" markdown)
                        out)
                with e -> Error $"{out}: report not written ({e.Message})")
    }
