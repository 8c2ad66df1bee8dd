module Lnmn.Bench.Program

open System.IO

[<EntryPoint>]
let main argv =
    let quick = Array.contains "--quick" argv
    let threads =
        match Array.tryFindIndex ((=) "--threads") argv with
        | Some i when i + 1 < argv.Length -> int argv.[i + 1]
        | _ -> System.Environment.ProcessorCount
    TorchSharp.torch.set_num_threads threads
    TorchSharp.torch.random.manual_seed 0L |> ignore
    let outDir = Path.Combine(System.Environment.CurrentDirectory, "bench-results")
    Directory.CreateDirectory outDir |> ignore
    let section (title: string) (table: string) =
        let size = if quick then ", --quick" else ""
        let text = $"## {title}\n\n{threads} threads, TorchSharp 0.107 on CPU{size}.\n\n{table}\n"
        printfn "%s" text
        File.WriteAllText(Path.Combine(outDir, $"""{title.ToLowerInvariant().Replace(' ', '-')}.md"""), text)
    match argv |> Array.tryFindIndex ((=) "paper-step") with
    | Some i ->
        TrainingBench.paperStep argv.[i + 1]
        exit 0
    | None -> ()
    if Array.contains "profile" argv then
        section "Profile" (Profile.run (if quick then 5 else 20))
        exit 0
    let only = argv |> Array.tryFind (fun a -> a = "network" || a = "training" || a = "parallel" || a = "data" || a = "vqa")
    if only |> Option.forall ((=) "network") then section "Network" (NetworkBench.run quick)
    if only |> Option.forall ((=) "training") then section "Training" (TrainingBench.run quick threads)
    if only |> Option.forall ((=) "parallel") then section "Parallel" (TrainingBench.parallelRows threads (if quick then 8 else 25))
    if only |> Option.forall ((=) "data") then section "Data" (DataBench.run quick outDir)
    if only |> Option.forall ((=) "vqa") then section "VQA data" (VqaBench.run quick)
    0
