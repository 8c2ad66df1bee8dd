/// VQA feature streaming: Stack-NMN's per-image .npy files (1, 7, 7, 2048) read in batches of 64
/// through the same source training uses; images/s and resident memory against the files' size.
module Lnmn.Bench.VqaBench

open System
open System.Diagnostics
open System.IO
open Lnmn.Core.Data
open Lnmn.Analysis

/// Writes images until at least `bytes` of features are on disk (1 GB; 128 MB with --quick), opens
/// them (every header is checked there), streams them once, and deletes them.
let run (quick: bool) : string =
    let bytes = if quick then 128L <<< 20 else 1L <<< 30
    let c, h, w = 2048, 7, 7
    let perImage = int64 (c * h * w * 4)
    let n = int ((bytes + perImage - 1L) / perImage)
    let work = Path.Combine(Path.GetTempPath(), $"lnmn-vqabench-{Guid.NewGuid():N}")
    Directory.CreateDirectory work |> ignore
    try
        let layout: VqaLayout.Found = { Root = work; Version = VqaLayout.V2; Layout = VqaLayout.lowerCase }
        let files = Array.init n (fun i -> VqaLayout.npyFile layout "train2014" (i + 1))
        Directory.CreateDirectory(Path.GetDirectoryName files[0]) |> ignore
        let map = Array.zeroCreate<float32> (c * h * w)
        let written = Stopwatch.StartNew()
        files |> Array.iteri (fun i f ->
            for k in 0 .. map.Length - 1 do map[k] <- float32 ((i * 7 + k) % 1000) * 0.001f
            Features.writeNpy f c h w map)
        let writeSeconds = written.Elapsed.TotalSeconds
        let totalMb = float (files |> Array.sumBy (fun f -> FileInfo(f).Length)) / 1048576.0
        GC.Collect()
        let rssBefore = Timing.procStatusKb "VmRSS" / 1024.0
        let opened = Stopwatch.StartNew()
        match Features.openNpyFiles (Path.GetDirectoryName files[0]) files with
        | Error e -> failwith (DataError.describe e)
        | Ok source ->
            use _ = source
            let openSeconds = opened.Elapsed.TotalSeconds
            let streamed = Stopwatch.StartNew()
            let mutable peakRss = rssBefore
            for batch in Batching.sequentialBatches 64 n do
                source.Read batch |> ignore
                peakRss <- max peakRss (Timing.procStatusKb "VmRSS" / 1024.0)
            let seconds = streamed.Elapsed.TotalSeconds
            Table.markdown (
                Table.ofText
                    [ "VQA feature streaming (7×7×2048 .npy per image)"; "result" ]
                    [ [ $"writing {n} images ({totalMb:F0} MB)"; $"{totalMb / writeSeconds:F0} MB/s" ]
                      [ "opening: every header checked"; $"{openSeconds:F2} s ({float n / openSeconds:F0} files/s)" ]
                      [ "streaming, batches of 64"; $"{float n / seconds:F0} images/s, {totalMb / seconds:F0} MB/s" ]
                      [ "memory while streaming"; $"RSS {rssBefore:F0} MB before, at most {peakRss:F0} MB during, vs {totalMb:F0} MB of files" ] ])
    finally
        if Directory.Exists work then Directory.Delete(work, true)
