/// `lnmn-train learning-curve`: LNMN-11 and Stack-NMN trained side by side, one seed, the same
/// data, one thread each (two processes on two cores), scoring the validation split every few
/// steps; written from their results (`RunResult`'s curve) as learning-curves.{csv,md,html,png}:
/// accuracy against questions seen and against training seconds. A model whose run folder holds its
/// finished run (result.json, of the same settings and the model today's defaults give them) is not retrained.
module Lnmn.Train.LearningCurve

open System
open System.Diagnostics
open System.IO
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Data
open Lnmn.Train.Configs

type Settings = LearningCurveConfig

let models: Comparison.Entry list =
    [ { Key = "lnmn-11"; Label = "LNMN-11"; Variant = fun c -> { c with Model = Lnmn; Ablation = Ablation11 } }
      { Key = "stack-nmn"; Label = "Stack-NMN"; Variant = fun c -> { c with Model = StackNmn } } ]

/// A model's run, in `Out`/runs/KEY: one thread (the two runs share two cores), the validation split
/// scored every `EvalEvery` weight steps.
let config (settings: Settings) (model: Comparison.Entry) =
    { model.Variant settings.Shared with
        Threads = Some 1
        EvalEvery = Some settings.EvalEvery
        RunDir = Some(Path.Combine(settings.Out, "runs", model.Key)) }

/// This program again, as a child process with `args`.
let private start (args: string list) (log: string) =
    let self = Environment.ProcessPath
    let host, prefix =
        if Path.GetFileNameWithoutExtension self = "dotnet" then self, [ Reflection.Assembly.GetEntryAssembly().Location ]
        else self, []
    let psi = ProcessStartInfo(host, prefix @ args, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true)
    let p = Process.Start psi
    let writer = new StreamWriter(log)
    let copy (line: string) = if not (isNull line) then lock writer (fun () -> writer.WriteLine line; writer.Flush())
    p.OutputDataReceived.Add(fun e -> copy e.Data)
    p.ErrorDataReceived.Add(fun e -> copy e.Data)
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()
    p, writer

/// The accuracy each run reached by `questions` (its last evaluation at or before it).
let private accuracyAt (points: (float * float * float) list) (questions: float) =
    points |> List.filter (fun (q, _, _) -> q <= questions) |> List.tryLast |> Option.map (fun (_, _, a) -> a)

/// learning-curves.{csv,md,html,png} in `out` from each model's finished run; the files written.
let private write (out: string) (finished: (Comparison.Entry * RunResult.RunResult) list) =
    let curves =
        [ for model, result in finished ->
            model.Label, [ for p in result.Curve -> float p.Questions, p.Seconds, p.ValidationAccuracy ] ]
    let file name = Path.Combine(out, name)
    let csv =
        Lnmn.Analysis.Table.ofText [ "model"; "questions"; "seconds"; "val_accuracy" ]
            [ for name, points in curves do for q, s, a in points -> [ name; $"{q}"; $"{s:F1}"; $"{a:F2}" ] ]
        |> Lnmn.Analysis.Table.csv
    let common = curves |> List.map (fun (_, points) -> points |> List.map (fun (q, _, _) -> q) |> List.fold max 0.0) |> List.min
    let checkpoints = [ 0.25; 0.5; 0.75; 1.0 ] |> List.map (fun f -> Math.Round(f * common))
    let markdown =
        Lnmn.Analysis.Table.markdown
            { Columns = "questions seen" :: List.map fst curves
              Rows =
                [ for q in checkpoints ->
                    Lnmn.Analysis.Table.Count q
                    :: [ for _, points in curves -> Lnmn.Analysis.Table.Number(accuracyAt points q |> Option.defaultValue nan, 2) ] ] }
        + "\n"
    AtomicFile.writeAllText (file "learning-curves.csv") csv
    AtomicFile.writeAllText (file "learning-curves.md") markdown
    let figure = Lnmn.Analysis.Plots.learningCurvesFigure curves
    let page = Lnmn.Analysis.Plots.selfContained figure
    AtomicFile.writeAllText (file "learning-curves.html") page
    let png =
        match Lnmn.Analysis.Chromium.plotPng (Lnmn.Analysis.Chromium.find ()) page figure (file "learning-curves.png") with
        | Ok png -> png
        | Error why -> $"(no PNG: {why})"
    printfn "%s" markdown
    [ file "learning-curves.csv"; file "learning-curves.md"; file "learning-curves.html"; png ]

/// Trains the models not found finished in `Out`/runs (each in its own process, `lnmn-train --config
/// runs/KEY.config.json`, logging to runs/KEY.log), then writes the curves of all of them.
let private trainAndWrite (settings: Settings) : Result<string list, string> =
    let runs = Path.Combine(settings.Out, "runs")
    Directory.CreateDirectory runs |> ignore
    let pending =
        [ for model in models do
            let asked = config settings model
            let root = asked.RunDir.Value
            match Comparison.currentResult root asked with
            | Ok _ -> printfn "%s: finished run in %s reused" model.Label root
            | Error unfinished ->
                if Directory.Exists root then
                    printfn "%s: %s: started again" model.Label unfinished
                    Directory.Delete(root, true)
                yield model, asked ]
    let children =
        [ for model, asked in pending ->
            let file name = Path.Combine(runs, $"{model.Key}{name}")
            AtomicFile.writeAllText (file ".config.json") (SpecJson.serialize asked)
            printfn "training %s (log: %s)" model.Label (file ".log")
            model, start [ "--config"; file ".config.json" ] (file ".log") ]
    let watch = Stopwatch.StartNew()
    while children |> List.exists (fun (_, (p, _)) -> not p.HasExited) do
        Threading.Thread.Sleep 1000
        if watch.Elapsed.TotalSeconds > 30.0 then
            watch.Restart()
            for model in models do
                match RunFolder.readEvaluations (RunFolder.paths (config settings model).RunDir.Value) |> List.tryLast with
                | Some(step, questions, seconds, accuracy) -> printfn "%-10s step %6d  %9.0f questions  %6.0f s  val %.2f%%" model.Label step questions seconds accuracy
                | None -> ()
    for _, (p, writer) in children do
        p.WaitForExit()
        writer.Dispose()
    match children |> List.tryFind (fun (_, (p, _)) -> p.ExitCode <> 0) with
    | Some(model, _) -> Error $"{model.Label} failed: see its log in {runs}"
    | None ->
        models
        |> Result.traverse (fun model ->
            let asked = config settings model
            RunFolder.readResult asked.RunDir.Value asked
            |> Result.map (fun r -> model, r)
            |> Result.mapError (fun why -> $"{model.Label}: {why}"))
        |> Result.map (write settings.Out)

/// Both models' settings checked (a mistake in one line, before any training), then `trainAndWrite`.
let run (settings: Settings) : Result<string list, string> =
    result {
        let! _ = models |> Result.traverse (fun model -> TrainChecks.check id (config settings model))
        return! trainAndWrite settings
    }
