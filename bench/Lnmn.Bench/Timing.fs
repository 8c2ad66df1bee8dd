/// Timing for the benchmarks (wall clock, or this process's CPU time), and the size they measure.
module Lnmn.Bench.Timing

open System.Diagnostics
open System.Runtime.InteropServices
open Lnmn.Core.Data
open Lnmn.Train
open Lnmn.Train.Configs

/// Median seconds of `repeats` runs after `warmup` untimed ones.
let medianSeconds (warmup: int) (repeats: int) (action: unit -> unit) =
    for _ in 1 .. warmup do action ()
    let times =
        [| for _ in 1 .. repeats do
             let sw = Stopwatch.StartNew()
             action ()
             sw.Elapsed.TotalSeconds |]
    Array.sortInPlace times
    times.[times.Length / 2]

[<Struct; StructLayout(LayoutKind.Sequential)>]
type private Timespec =
    val mutable Seconds: int64
    val mutable Nanoseconds: int64

[<DllImport("libc", EntryPoint = "clock_gettime")>]
extern int private clockGettime(int clock, Timespec& time)

/// CPU seconds this process has used, every thread together (Linux CLOCK_PROCESS_CPUTIME_ID, ns
/// resolution). On a machine where other work competes for the cores, a one-thread run's CPU time
/// moves far less than its wall time; with several threads it counts their sum, not the wait.
let processCpuSeconds () =
    let mutable t = Timespec()
    if clockGettime (2, &t) <> 0 then nan else float t.Seconds + float t.Nanoseconds * 1e-9

/// How a bench row is timed.
type Clock =
    | Wall
    | ProcessCpu

/// Seconds `action` took on `clock`.
let timed (clock: Clock) (action: unit -> unit) =
    match clock with
    | Wall ->
        let sw = Stopwatch.StartNew()
        action ()
        sw.Elapsed.TotalSeconds
    | ProcessCpu ->
        let start = processCpuSeconds ()
        action ()
        processCpuSeconds () - start

/// The built-in dataset as `lnmn-train` reads it with its default options (generated on first use).
let private builtInData =
    lazy
        (let d = Defaults.train
         match TrainingData.load (TrainingData.BuiltInData BuiltInOptions.defaults) Vocabulary.FromTraining d.VqaAnswers with
         | Ok(dataset, location) ->
             use _ = dataset
             TrainingData.facts (TrainingData.split d.Seed d.ArchitectureSplit dataset location)
         | Error e -> failwith e)

/// CLEVR as the paper trains on it: 28 answers, ResNet-101 layer3 features (1024×14×14), about 90
/// words; 629,991 training questions after 10% of 699,989 are held out for α.
let private clevr: Defaults.DataFacts =
    { BuiltIn = false; Vqa = false; Answers = 28; Words = 90; Channels = 1024; Height = 14; Width = 14; TrainExamples = 629_991 }

/// The spec `lnmn-train --model model` trains on the built-in dataset with its other defaults.
let builtInSpec (model: ModelChoice) = Defaults.modelSpec { Defaults.train with Model = model } (builtInData.Force())

/// The spec `lnmn-train --model model` trains on CLEVR: the paper's size.
let paperSpec (model: ModelChoice) = Defaults.modelSpec { Defaults.train with Model = model } clevr

let builtInName () =
    let d = (builtInSpec Lnmn).Dims
    $"built-in default ({d.InputChannels}×{d.GridHeight}×{d.GridWidth} features, {d.MapDim} wide)"

/// A "Vm…" line of /proc/self/status in kB ("VmHWM:\t16372704 kB": tab, and no space once the
/// number has eight digits), NaN if absent.
let procStatusKb (key: string) =
    System.IO.File.ReadAllLines "/proc/self/status"
    |> Array.tryFind (fun l -> l.StartsWith(key + ":"))
    |> Option.map (fun l -> float (l.Split([| ' '; '\t' |], System.StringSplitOptions.RemoveEmptyEntries).[1]))
    |> Option.defaultValue nan
