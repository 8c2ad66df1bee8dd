/// `lnmn-train learning-curve`: LNMN-11 and Stack-NMN trained side by side, one seed, the same
/// data, one thread each (two processes on two cores), scoring the validation split every few
/// steps; written as learning-curves.{csv,md,html,png}: accuracy against questions seen and
/// against training seconds.
module Lnmn.Train.LearningCurve

open System
open System.Diagnostics
open System.IO
open Lnmn.Core.Data

type Settings =
    { Out: string
      /// Arguments every run gets (data, epochs, seed, ...).
      Common: string list
      EvalEvery: int }

let models = [ "LNMN-11", "lnmn-11", [ "--ablation"; "11" ]; "Stack-NMN", "stack-nmn", [ "--model"; "stack-nmn" ] ]

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

let run (settings: Settings) : Result<string list, string> =
    Directory.CreateDirectory settings.Out |> ignore
    let runDir slug = Path.Combine(settings.Out, "runs", slug)
    let pending = models |> List.filter (fun (_, slug, _) -> not (File.Exists(Path.Combine(runDir slug, "eval.md"))))
    for _, slug, _ in pending do
        if Directory.Exists(runDir slug) then Directory.Delete(runDir slug, true)
    let children =
        [ for name, slug, args in pending ->
            printfn "training %s (log: %s)" name (runDir slug + ".log")
            Directory.CreateDirectory(Path.GetDirectoryName(runDir slug)) |> ignore
            name,
            start (settings.Common @ args @ [ "--threads"; "1"; "--eval-every"; string settings.EvalEvery; "--run-dir"; runDir slug ]) (runDir slug + ".log") ]
    let watch = Stopwatch.StartNew()
    while children |> List.exists (fun (_, (p, _)) -> not p.HasExited) do
        Threading.Thread.Sleep 1000
        if watch.Elapsed.TotalSeconds > 30.0 then
            watch.Restart()
            for name, slug, _ in models do
                match RunFolder.readEvaluations (RunFolder.paths (runDir slug)) |> List.tryLast with
                | Some(step, questions, seconds, accuracy) -> printfn "%-10s step %6d  %9.0f questions  %6.0f s  val %.2f%%" name step questions seconds accuracy
                | None -> ()
    for _, (p, writer) in children do
        p.WaitForExit()
        writer.Dispose()
    match children |> List.tryFind (fun (_, (p, _)) -> p.ExitCode <> 0) with
    | Some(name, _) ->
        let logs = Path.Combine(settings.Out, "runs")
        Error $"{name} failed: see its log in {logs}"
    | None ->
        let curves =
            [ for name, slug, _ in models ->
                name, RunFolder.readEvaluations (RunFolder.paths (runDir slug)) |> List.map (fun (_, q, s, a) -> q, s, a) ]
        let file name = Path.Combine(settings.Out, name)
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
            match Lnmn.Analysis.Chromium.find () with
            | None -> "(no PNG: no chromium on PATH)"
            | Some browser ->
                match Lnmn.Analysis.Chromium.screenshotPlot browser page figure (file "learning-curves.png") with
                | Ok() -> file "learning-curves.png"
                | Error why -> $"(no PNG: {why})"
        printfn "%s" markdown
        Ok [ file "learning-curves.csv"; file "learning-curves.md"; file "learning-curves.html"; png ]
