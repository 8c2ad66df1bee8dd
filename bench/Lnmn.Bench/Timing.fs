/// Wall-clock timing and Markdown tables for the benchmarks.
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

let markdownTable (header: string list) (rows: string list list) =
    let line cells = "| " + String.concat " | " cells + " |"
    String.concat "\n" [ line header; line (header |> List.map (fun _ -> "---")); yield! List.map line rows ]
