/// Which device tensors live on. Code takes a `Device` and never assumes the CPU.
module Lnmn.Core.Device

open TorchSharp

type DeviceChoice =
    | Auto
    | Cpu
    | Cuda

let parseDeviceChoice (s: string) =
    match s.ToLowerInvariant() with
    | "auto" -> Ok Auto
    | "cpu" -> Ok Cpu
    | "cuda" -> Ok Cuda
    | other -> Error $"unknown device '{other}' (expected auto, cpu or cuda)"

/// Resolves a choice to a torch device; `Cuda` without a CUDA build or GPU is an error, not a fallback.
let resolve (choice: DeviceChoice) : Result<torch.Device, string> =
    match choice with
    | Cpu -> Ok torch.CPU
    | Auto -> Ok(if torch.cuda.is_available () then torch.CUDA else torch.CPU)
    | Cuda when torch.cuda.is_available () -> Ok torch.CUDA
    | Cuda -> Error "--device cuda: no CUDA device is available (this build uses TorchSharp-cpu unless built with -p:TorchBackend=cuda)"

/// How a CPU run spends `--threads N`: libtorch's intra-op threads, or N data-parallel workers
/// (the batch split over N threads, libtorch at one intra-op thread; `Training.DataParallel`).
type CpuParallelism =
    | IntraOp
    | BatchWorkers

/// The intra-op thread count to set (None: libtorch's default) and the data-parallel workers (1: the
/// batch is not split) for `threads` (None: every core) on `device`; a GPU runs one worker.
let threadsAndWorkers (device: torch.Device) (parallelism: CpuParallelism) (threads: int option) =
    let cores = defaultArg threads System.Environment.ProcessorCount
    match parallelism with
    | BatchWorkers when device.``type`` = DeviceType.CPU && cores > 1 -> Some 1, cores
    | _ -> threads, 1

/// Seeds torch and fixes the intra-op thread count, which together make CPU runs repeatable.
let seedAndThreads (seed: int) (threads: int option) =
    threads |> Option.iter (fun n -> torch.set_num_threads n)
    torch.random.manual_seed (int64 seed) |> ignore
    if torch.cuda.is_available () then torch.cuda.manual_seed_all (int64 seed)
