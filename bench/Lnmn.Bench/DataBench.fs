/// Data benchmarks: generation speed, JSON reading speed, HDF5 feature streaming rate and memory.
module Lnmn.Bench.DataBench

open System
open System.Diagnostics
open System.IO
open Lnmn.Core.Data
open Lnmn.Analysis

/// Peak and current resident memory (MB) from /proc/self/status.
let private memoryMb () = Timing.procStatusKb "VmHWM" / 1024.0, Timing.procStatusKb "VmRSS" / 1024.0

let private time (f: unit -> 'T) =
    let sw = Stopwatch.StartNew()
    let r = f ()
    r, sw.Elapsed.TotalSeconds

/// Runs the benchmarks; quick: 50K questions and a 128 MB feature file, else CLEVR-sized:
/// 700K questions and a 1 GB feature file. Big files go under /tmp and are deleted.
let run (quick: bool) (outDir: string) : string =
    let questionCount = if quick then 50_000 else 700_000
    let featureBytes = if quick then 128L <<< 20 else 1L <<< 30
    let work = Path.Combine(Path.GetTempPath(), $"lnmn-databench-{Guid.NewGuid():N}")
    Directory.CreateDirectory work |> ignore
    let rows = ResizeArray<string * string>()
    try
        // Generation of the default dataset and of a CLEVR-sized question file.
        let (), defaultSeconds = time (fun () -> BuiltIn.generate BuiltInOptions.defaults (Path.Combine(work, "default")))
        rows.Add("default built-in dataset (train+val, all files)", $"{defaultSeconds:F1} s")
        let options = { BuiltInOptions.defaults with QuestionsPerScene = 10 }
        let (_, questions), genSeconds = time (fun () -> BuiltIn.generateSplit options "train" (questionCount / 10))
        rows.Add($"question generation ({questions.Length} questions)", $"{float questions.Length / genSeconds:F0} questions/s")
        let jsonPath = Path.Combine(work, "questions.json")
        ClevrJson.writeQuestions jsonPath "train" questions
        let jsonMb = float (FileInfo(jsonPath).Length) / 1048576.0
        let count, readSeconds = time (fun () -> ClevrJson.readQuestions jsonPath |> Seq.length)
        rows.Add($"questions JSON reading ({jsonMb:F0} MB, {count} questions)", $"{float count / readSeconds:F0} questions/s, {jsonMb / readSeconds:F0} MB/s")
        File.Delete jsonPath
        // Feature streaming from an HDF5 file of CLEVR-sized rows (1024×14×14 float32).
        let c, h, w = 1024, 14, 14
        let rowBytes = int64 (c * h * w * 4)
        let n = int (featureBytes / rowBytes)
        let h5 = Path.Combine(work, "features.h5")
        let (), writeSeconds =
            time (fun () -> Features.writeHdf5 h5 n c h w 32 (fun start k -> Array.init (k * c * h * w) (fun i -> float32 ((start * 7 + i) % 1000) * 0.001f)))
        let fileMb = float (FileInfo(h5).Length) / 1048576.0
        rows.Add($"HDF5 writing ({n} rows)", $"{fileMb / writeSeconds:F0} MB/s")
        GC.Collect()
        let _, rssBefore = memoryMb ()
        match Features.openHdf5 h5 with
        | Error e -> failwith (DataError.describe e)
        | Ok source ->
            use _ = source
            let (), streamSeconds =
                time (fun () ->
                    for batch in Batching.sequentialBatches 64 n do
                        source.Read batch |> ignore)
            let peak, _ = memoryMb ()
            rows.Add($"HDF5 streaming, batches of 64 ({fileMb:F0} MB file)", $"{float n / streamSeconds:F0} images/s, {fileMb / streamSeconds:F0} MB/s")
            rows.Add("memory while streaming", $"peak RSS {peak:F0} MB (RSS before {rssBefore:F0} MB) vs file {fileMb:F0} MB")
        File.Delete h5
    finally
        if Directory.Exists work then Directory.Delete(work, true)
    let table = Table.markdown (Table.ofText [ "data benchmark"; "result" ] [ for k, v in rows -> [ k; v ] ])
    Directory.CreateDirectory outDir |> ignore
    File.WriteAllText(Path.Combine(outDir, "data-bench.md"), table + "\n")
    table
