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

type ReportConfig =
    { Target: string
      Out: string option
      Data: string option
      Split: string
      IgSteps: int
      /// Only the split's first N questions; None: all.
      Questions: int option
      Pictures: int
      Device: string
      Threads: int option }

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

/// Writes NAME.html, and NAME.png when a browser is at hand; returns the PNGs made.
let private writeFigure (dir: string) (browser: string option) (name: string) (figure: Plots.Figure) : Result<string list, string> =
    let html = Path.Combine(dir, name + ".html")
    File.WriteAllText(html, figure.Html)
    match browser with
    | None -> Ok []
    | Some b ->
        // The picture without plotly's toolbar, which a still image cannot use.
        let still = Path.Combine(dir, name + ".still.html")
        File.WriteAllText(still, figure.Html.Replace("</head>", "<style>.modebar-container{display:none!important}</style></head>"))
        let shot = Chromium.screenshot b still (Path.Combine(dir, name + ".png")) (figure.Width, figure.Height)
        File.Delete still
        shot |> Result.map (fun () -> [ name + ".png" ])

/// One section per pictured question: its w(t) and its attention maps.
let private questionSections (dir: string) (browser: string option) (loaded: Loaded.Loaded) (source: TrainingData.Source) (count: int) =
    let count = min count source.Examples.Length
    if count = 0 then Ok []
    else
        use _ = torch.no_grad ()
        let b = TrainingData.batch loaded.Device source (Array.init count id)
        let result = loaded.Network.Forward(b.Input, NodeOps.NodeEvaluation.soft)
        let predicted = result.Logits.argmax(-1L).cpu().data<int64>().ToArray()
        let answerName i = if i >= 0 && i < loaded.Metadata.Answers.Length then loaded.Metadata.Answers.[i] else "(none)"
        [ for i in 0 .. count - 1 ->
            let e = source.Examples.[i]
            let words = e.Tokens |> Array.map (fun t -> loaded.Metadata.Words.[t]) |> List.ofArray
            let trace = Trace.ofForward loaded.Network result i words
            let question = String.concat " " words
            let name = $"question-{i + 1}"
            writeFigure dir browser (name + "-weights") (Plots.moduleWeightsFigure question trace)
            |> Result.bind (fun weights ->
                writeFigure dir browser (name + "-attention") (Plots.attentionMapsFigure question trace)
                |> Result.map (fun maps ->
                    { Heading = $"Question {i + 1}: {question}"
                      Note = $"answer {answerName e.Answer}, predicted {answerName (int predicted.[i])} (soft α). Module weights w(t) per step, and the map under the stack pointer after each step with the word the controller attended to most."
                      Table = None
                      Links = [ "w(t) (HTML)", name + "-weights.html"; "attention maps (HTML)", name + "-attention.html" ]
                      Images = weights @ maps })) ]
        |> List.foldBack (fun r acc -> match r, acc with Ok x, Ok xs -> Ok(x :: xs) | Error e, _ | _, Error e -> Error e) <| Ok []

let private build (config: ReportConfig) (dir: string) (browser: string option) (loaded: Loaded.Loaded) (run: RunFolder.Paths option) =
    result {
        let! whole = Loaded.split loaded config.Split
        let source = { whole with Examples = Array.truncate (defaultArg config.Questions whole.Examples.Length) whole.Examples }
        let network, batchSize = loaded.Network, loaded.Metadata.Training.BatchSize
        let formulas = Extraction.extract network
        let readouts = AlphaReadout.read network
        let _, soft, hard = Scoring.softAndHardMax loaded.Device network batchSize source
        let ablation = Scoring.opAblation loaded.Device network batchSize source
        let batches = Batching.sequentialBatches batchSize source.Examples.Length |> Seq.map (TrainingData.batch loaded.Device source)
        let attributions = IntegratedGradients.byModule network (IntegratedGradients.attributionsOver network batches config.IgSteps)
        let! alphaPng = writeFigure dir browser "alpha" (Plots.alphaHeatmapFigure readouts)
        let! igPng = writeFigure dir browser "ig" (Plots.attributionHeatmapFigure attributions)
        let! questions = questionSections dir browser loaded source config.Pictures
        let epochs = run |> Option.map RunFolder.readEpochAccuracies |> Option.defaultValue []
        let! curvesPng = if epochs.IsEmpty then Ok [] else writeFigure dir browser "curves" (Plots.trainingCurvesFigure epochs)
        let! schedulePng = writeFigure dir browser "lambda-w" (Plots.entropyScheduleFigure loaded.Metadata.Training.Epochs)
        let on = $"{config.Split} split, {source.Examples.Length} questions"
        return
            [ yield tableSection dir "formulas" "What each module computes (paper Table 6)" "The argmax op of every node, composed and simplified; each node's winning softmax weight shows how close to one-hot it is." (Extraction.table formulas) [] []
              yield tableSection dir "alpha" "softmax(α) per module and node (paper Figure 3)" "Percent; the winning op in bold." (AlphaReadout.table readouts) [ "heat map (HTML)", "alpha.html" ] alphaPng
              yield tableSection dir "eval" "Accuracy" $"On the {on}: soft α as trained, and hard-max α (one-hot per node) at inference (paper Table 2)." (Evaluation.table [ "soft α", soft; "hard-max α", hard ]) [] []
              yield tableSection dir "op-ablation" "Ops removed from every node (paper Table 7)" $"On the {on}: softmax renormalised over the other five ops." (Scoring.opAblationTable ablation) [] []
              yield tableSection dir "ig" "Integrated gradients of α (paper Table 5)" $"Attribution of each module's six α values to p(correct answer), zero baseline, {config.IgSteps} steps, summed over the module's nodes and the {on} (signed, as the paper's formula; the paper prints magnitudes)." (IntegratedGradients.table attributions) [ "heat map (HTML)", "ig.html" ] igPng
              yield! questions
              if not epochs.IsEmpty then
                  yield { Heading = "Training curves"; Note = "Train and validation accuracy per epoch, from the run's metrics-epochs.jsonl."; Table = None; Links = [ "HTML", "curves.html" ]; Images = curvesPng }
              yield { Heading = "λ_w schedule"; Note = $"The module-entropy weight per epoch over this run's {loaded.Metadata.Training.Epochs} epochs."; Table = None; Links = [ "HTML", "lambda-w.html" ]; Images = schedulePng } ]
    }

let private replaceDirectory (source: string) (destination: string) =
    if Directory.Exists destination then Directory.Delete(destination, true)
    Directory.Move(source, destination)

/// Writes the report; the folder appears whole or not at all. Returns the report folder.
let run (config: ReportConfig) : Result<string, string> =
    let started = Diagnostics.Stopwatch.StartNew()
    result {
        do! if config.IgSteps > 0 then Ok() else Error $"--ig-steps must be positive (got {config.IgSteps})"
        do! if config.Pictures >= 0 then Ok() else Error $"--pictures must not be negative (got {config.Pictures})"
        do! match config.Questions with Some n when n <= 0 -> Error $"--questions must be positive (got {n})" | _ -> Ok()
        let! checkpoint, run = resolve config.Target
        let out = config.Out |> Option.defaultWith (fun () -> defaultOut config.Target run)
        use! loaded = Loaded.openCheckpoint checkpoint config.Data config.Device config.Threads
        let probe = Chromium.usable ()
        let browser = match probe with Ok b -> Some b | Error _ -> None
        let temporary = out.TrimEnd('/') + $".partial-{Guid.NewGuid():N}"
        Directory.CreateDirectory temporary |> ignore
        let written =
            try
                build config temporary browser loaded run
                |> Result.map (fun sections ->
                    let summary =
                        [ $"checkpoint: {checkpoint} (commit of this build: {RunFolder.gitCommit ()})"
                          $"model: {loaded.Metadata.Model.Modules.Length} modules, {Specs.ModelSpec.nodeCount loaded.Metadata.Model} nodes; dataset: {loaded.Label}"
                          (match probe with
                           | Ok b -> $"PNGs drawn with {b}"
                           | Error why -> $"PNGs skipped: {why} (the HTML pictures are complete)")
                          $"written in {started.Elapsed.TotalSeconds:F0} s" ]
                    File.WriteAllText(Path.Combine(temporary, "index.html"), ReportPage.render "LNMN report" summary sections)
                    let markdown =
                        sections
                        |> List.choose (fun s -> s.Table |> Option.map (fun t -> $"## {s.Heading}\n\n{s.Note}\n\n{Table.markdown t}\n"))
                    File.WriteAllText(Path.Combine(temporary, "report.md"), "# LNMN report\n\n" + String.concat "" (summary |> List.map (fun l -> $"- {l}\n")) + "\n" + String.concat "\n" markdown))
            with e -> Error $"{out}: report not written ({e.Message})"
        match written with
        | Ok() ->
            replaceDirectory temporary out
            return out
        | Error e ->
            Directory.Delete(temporary, true)
            return! Error e
    }
