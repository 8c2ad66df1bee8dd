/// Wall-clock timing for the benchmarks, and the size they measure.
module Lnmn.Bench.Timing

open System.Diagnostics

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

/// The network size `lnmn-train` uses on the built-in dataset with its default options: 28 answers,
/// a 67-word vocabulary, the rendered channels on the default grid.
let builtInDims =
    let g = Lnmn.Core.Data.BuiltInOptions.defaults.GridSize
    Lnmn.Core.Specs.ModelDims.small 28 67 Lnmn.Core.Data.Render.channels g g

let builtInName =
    $"built-in default ({builtInDims.InputChannels}×{builtInDims.GridHeight}×{builtInDims.GridWidth} features, {builtInDims.MapDim} wide)"

/// A "Vm…" line of /proc/self/status in kB ("VmHWM:\t16372704 kB": tab, and no space once the
/// number has eight digits), NaN if absent.
let procStatusKb (key: string) =
    System.IO.File.ReadAllLines "/proc/self/status"
    |> Array.tryFind (fun l -> l.StartsWith(key + ":"))
    |> Option.map (fun l -> float (l.Split([| ' '; '\t' |], System.StringSplitOptions.RemoveEmptyEntries).[1]))
    |> Option.defaultValue nan
