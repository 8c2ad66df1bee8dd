/// Training throughput: one α step against one weight step, and questions/s of a whole training
/// step (α step + weight step, Algorithm 2), for the reference forward (`ReferenceForward`), the
/// fused one (`Forward`) with torch's composed node ops, and the fused one with the node kernel
/// (the default), side by side; a batch-size sweep; threads 1 against 2; in the full bench, one
/// weight step at the paper's size with its peak memory, each in a fresh process. `parallelRows`
/// (the bench's own `parallel` section): two cores as intra-op threads or data-parallel workers.
module Lnmn.Bench.TrainingBench

open System.Diagnostics
open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Analysis
open Lnmn.Core.Network
open Lnmn.Core.Training

let private questionLength = 14

let labelled (batchSize: int) (d: ModelDims) : Steps.LabelledBatch =
    { Input =
        { Tokens = torch.randint(2L, int64 d.Vocabulary, [| int64 batchSize; int64 questionLength |])
          Lengths = torch.tensor(Array.create batchSize (int64 questionLength))
          Features = torch.randn([| int64 batchSize; int64 d.InputChannels; int64 d.GridHeight; int64 d.GridWidth |]) }
      Answers = torch.randint(0L, int64 d.Answers, [| int64 batchSize |])
      SoftTargets = None }

let private passes = [ "reference", Steps.referenceForward; "composed", Steps.composedForward; "kernel", Steps.forward ]

/// Seconds of a weight step and of an α step (None for a model without α) for each forward pass,
/// the minimum over `repeats` rounds that run every pass once in turn: on a shared machine, load
/// then slows all passes alike and the minimum is the least disturbed run. One-thread rows take
/// the process's CPU time, which other load hardly moves; rows with more threads the wall clock.
let private stepSeconds (spec: ModelSpec) (batchSize: int) (repeats: int) =
    let clock = if torch.get_num_threads () = 1 then Timing.ProcessCpu else Timing.Wall
    let training = TrainingSpec.TrainingSpec.paper
    let trainBatch, archBatch = labelled batchSize spec.Dims, labelled batchSize spec.Dims
    let runs =
        [ for _, pass in passes ->
            let state = Steps.createState training (LnmnNetwork.compile spec)
            [ Some(fun () -> Steps.weightStepWith pass training 1.0 state trainBatch |> ignore)
              if ModelSpec.hasAlpha spec then Some(fun () -> Steps.alphaStepWith pass training state archBatch |> ignore) else None ] ]
    let best = runs |> List.map (List.map (Option.map (fun _ -> System.Double.MaxValue)) >> Array.ofList) |> Array.ofList
    for round in 0 .. repeats do
        List.iteri (fun i steps ->
            List.iteri (fun j (step: (unit -> unit) option) ->
                step |> Option.iter (fun run ->
                    let seconds = Timing.timed clock run
                    // Round 0 warms up.
                    if round > 0 then best.[i].[j] <- Some(min best.[i].[j].Value seconds))) steps) runs
    [ for (name, _), times in List.zip passes (List.ofArray best) -> name, (times.[0].Value, times.[1]) ]

let private clockName () = if torch.get_num_threads () = 1 then "CPU time" else "wall clock"

let private perSecond (batchSize: int) (weight: float) (alpha: float option) = float batchSize / (weight + defaultArg alpha 0.0)

/// The α rhythm of the last column: the built-in default's (`--alpha-every`).
let private thinnedAlpha = Lnmn.Train.Defaults.builtInAlphaEvery

let private modelRows (repeats: int) =
    let lnmn = Timing.builtInSpec Lnmn.Train.Configs.Lnmn
    let models =
        [ "LNMN-11, the paper's nodes", { lnmn with NodeMix = Some MixThenNormalise }
          "LNMN-11, each-op nodes", { lnmn with NodeMix = Some NormaliseEachOp }
          "Stack-NMN", Timing.builtInSpec Lnmn.Train.Configs.StackNmn ]
    let measured =
        [ for model, spec in models do
            for passName, seconds in stepSeconds spec 64 repeats -> model, passName, seconds ]
    let composedRate model =
        measured |> List.pick (fun (m, p, (w, a)) -> if m = model && p = "composed" then Some(perSecond 64 w a) else None)
    let stackNmn = measured |> List.pick (fun (m, p, (w, a)) -> if m = "Stack-NMN" && p = "kernel" then Some(w + defaultArg a 0.0) else None)
    let rows =
        [ for model, passName, (weight, alpha) in measured ->
            let rate = perSecond 64 weight alpha
            [ model; passName; sprintf "%.4f" weight; alpha |> Option.map (sprintf "%.4f") |> Option.defaultValue "—"
              sprintf "%.1f" rate; sprintf "%.2f×" (rate / composedRate model)
              sprintf "%.2f" ((weight + defaultArg alpha 0.0) / stackNmn)
              sprintf "%.2f" ((weight + defaultArg alpha 0.0 / float thinnedAlpha) / stackNmn) ] ]
    Table.ofText
        [ $"{Timing.builtInName ()}, batch 64, min of {repeats} interleaved ({clockName ()})"; "forward"; "weight step (s)"; "α step (s)"; "training questions/s"
          "× composed"; "cost per question / Stack-NMN's (kernel)"; $"the same, --alpha-every {thinnedAlpha} (a departure)" ]
        rows
    |> Table.markdown

let private batchRows (repeats: int) =
    let spec = Timing.builtInSpec Lnmn.Train.Configs.Lnmn
    let rows =
        [ for batchSize in [ 64; 128; 256; 512 ] ->
            let rates = stepSeconds spec batchSize repeats |> List.map (fun (name, (w, a)) -> name, perSecond batchSize w a) |> Map.ofList
            let reference, composed, kernel = rates.["reference"], rates.["composed"], rates.["kernel"]
            [ string batchSize; sprintf "%.1f" reference; sprintf "%.1f" composed; sprintf "%.1f" kernel; sprintf "%.2f×" (kernel / composed) ] ]
    Table.markdown (Table.ofText [ $"LNMN-11, batch (min of {repeats} interleaved, {clockName ()})"; "reference questions/s"; "composed questions/s"; "kernel questions/s"; "kernel / composed" ] rows)

let private threadRows (threads: int) (repeats: int) =
    let spec = Timing.builtInSpec Lnmn.Train.Configs.Lnmn
    let rows =
        [ for n in [ 1; 2 ] do
            torch.set_num_threads n
            for passName, (w, a) in stepSeconds spec 64 repeats -> [ string n; passName; sprintf "%.1f" (perSecond 64 w a) ] ]
    torch.set_num_threads threads
    Table.markdown (Table.ofText [ "threads"; $"LNMN-11 forward, batch 64, min of {repeats} interleaved (1 thread: CPU time; 2: wall clock)"; "training questions/s" ] rows)

/// Two cores used two ways against one thread: libtorch's intra-op threads, or the batch split over
/// two worker threads at one intra-op thread each (`DataParallel`). A training step (α step + weight
/// step, batch 64) per model and way, min over `repeats` interleaved rounds, on the wall clock (every
/// row, the one-thread row too: the process's CPU time sums the threads and would hide what a second
/// thread gains) and on the process's CPU clock (the work a step costs, all threads together, spinning
/// included: on a loaded machine the steadier of the two, and the wall clock's bound on idle cores).
let parallelRows (threads: int) (repeats: int) =
    let ways = [ "1 thread", 1, 1; "2 threads, intra-op", 2, 1; "2 workers, data-parallel", 1, 2 ]
    let training = TrainingSpec.TrainingSpec.paper
    let runs =
        [ for model, spec in [ "LNMN-11", Timing.builtInSpec Lnmn.Train.Configs.Lnmn; "Stack-NMN", Timing.builtInSpec Lnmn.Train.Configs.StackNmn ] do
            let trainBatch, archBatch = labelled 64 spec.Dims, labelled 64 spec.Dims
            for way, intraOp, workers in ways ->
                let state = Steps.createState training (LnmnNetwork.compile spec)
                let step () =
                    if ModelSpec.hasAlpha spec then DataParallel.alphaStepWith workers Steps.forward training state archBatch |> ignore
                    DataParallel.weightStepWith workers Steps.forward training 1.0 state trainBatch |> ignore
                model, way, fun () ->
                    torch.set_num_threads intraOp
                    let cpu = Timing.processCpuSeconds ()
                    let wall = Timing.timed Timing.Wall step
                    wall, Timing.processCpuSeconds () - cpu ]
    let best = Array.create runs.Length (System.Double.MaxValue, System.Double.MaxValue)
    for round in 0 .. repeats do
        // Round 0 warms up.
        runs |> List.iteri (fun i (_, _, run) ->
            let wall, cpu = run ()
            if round > 0 then best.[i] <- (min (fst best.[i]) wall, min (snd best.[i]) cpu))
    torch.set_num_threads threads
    let baseline, _, _ = ways.Head
    let oneThread model = runs |> List.indexed |> List.pick (fun (i, (m, w, _)) -> if m = model && w = baseline then Some best.[i] else None)
    let rows =
        [ for i, (model, way, _) in List.indexed runs ->
            let wall, cpu = best.[i]
            let wallOne, cpuOne = oneThread model
            [ model; way; sprintf "%.4f" wall; sprintf "%.1f" (64.0 / wall); sprintf "%.2f×" (wallOne / wall); sprintf "%.4f" cpu; sprintf "%.2f" (cpu / cpuOne) ] ]
    Table.markdown
        (Table.ofText
            [ $"{Timing.builtInName ()}, batch 64, min of {repeats} interleaved"; "cores used as"; "training step, wall (s)"; "training questions/s (wall)"
              "× 1 thread (wall)"; "training step, CPU (s)"; "CPU / 1 thread's" ]
            rows)

/// The paper's size: one weight step, batch 64, in this process; prints "seconds peak-bytes".
let paperStep (passName: string) =
    let pass = List.find (fst >> (=) passName) passes |> snd
    let spec = Timing.paperSpec Lnmn.Train.Configs.Lnmn
    let training = TrainingSpec.TrainingSpec.paper
    let state = Steps.createState training (LnmnNetwork.compile spec)
    let batch = labelled 64 spec.Dims
    let sw = Stopwatch.StartNew()
    Steps.weightStepWith pass training 1.0 state batch |> ignore
    let seconds = sw.Elapsed.TotalSeconds
    // VmHWM: the resident set's high-water mark.
    printfn "%f %d" seconds (int64 (Timing.procStatusKb "VmHWM") * 1024L)

/// Runs `paperStep` in a fresh process, so each row's peak memory is its own.
let private paperRow (threads: int) (passName: string) =
    let self = System.Environment.ProcessPath
    let dll = System.Reflection.Assembly.GetEntryAssembly().Location
    let start = ProcessStartInfo(self, RedirectStandardOutput = true, UseShellExecute = false)
    if System.IO.Path.GetFileNameWithoutExtension self = "dotnet" then start.ArgumentList.Add dll
    for a in [ "paper-step"; passName; "--threads"; string threads ] do start.ArgumentList.Add a
    use child = Process.Start start
    let output = child.StandardOutput.ReadToEnd().Trim().Split('\n') |> Array.last
    child.WaitForExit()
    match output.Split(' ') with
    | [| seconds; bytes |] -> [ passName; sprintf "%.1f" (float seconds); sprintf "%.2f" (float bytes / 1e9) ]
    | _ -> [ passName; $"failed (exit {child.ExitCode})"; "—" ]

let run (quick: bool) (threads: int) =
    let repeats = if quick then 8 else 25
    let sections =
        [ modelRows repeats
          batchRows (if quick then 3 else 8)
          threadRows threads repeats
          if not quick then
              Table.ofText
                  [ "LNMN-11, paper size (1024×14×14, map 384), batch 64, one weight step"; "seconds"; "peak RSS (GB)" ]
                  [ for passName, _ in passes -> paperRow threads passName ]
              |> Table.markdown ]
    String.concat "\n\n" sections
