/// A trained checkpoint opened for scoring or analysis: its network with the saved parameters, on a
/// device, with the dataset it names (or another) and one split of it.
module Lnmn.Train.Loaded

open TorchSharp
open Lnmn.Core
open Lnmn.Core.Data
open Lnmn.Core.Network
open Lnmn.Core.Training

type Loaded =
    { Path: string
      Metadata: Checkpoint.Metadata
      Network: LnmnNetwork.LnmnNetwork
      Device: torch.Device
      Dataset: Dataset.Dataset
      Data: TrainingData.Location }
    interface System.IDisposable with
        member this.Dispose() = (this.Dataset :> System.IDisposable).Dispose()

/// Opens a checkpoint with the data at `dataDir`, or else the data the checkpoint records (never
/// regenerated where it is still there, whatever the working directory).
let openCheckpoint (path: string) (dataDir: string option) (device: Device.DeviceChoice) (threads: int option) : Result<Loaded, string> =
    result {
        let! metadata, state = Checkpoint.openState path
        let! device = Device.resolve device
        Device.seedAndThreads 0 threads
        let vocabulary = { Vocabulary.Tokens = Array.ofList metadata.Words; Vocabulary.Answers = Array.ofList metadata.Answers }
        let choice = dataDir |> Option.map TrainingData.DataDirectory |> Option.defaultWith (fun () -> TrainingData.recorded metadata)
        let! dataset, location = TrainingData.load choice (Vocabulary.Saved vocabulary) vocabulary.Answers.Length
        state.Network.``to``(device) |> ignore
        return { Path = path; Metadata = metadata; Network = state.Network; Device = device; Dataset = dataset; Data = location }
    }

/// "val", "train" or "test" of the dataset; test where it is VQA's (predictions, with --results) or
/// every question has its answer (CLEVR-Humans').
let split (loaded: Loaded) (name: string) : Result<Batching.Split, string> =
    match name with
    | "val" -> Ok loaded.Dataset.Val
    | "train" -> Ok loaded.Dataset.Train
    | "test" ->
        match loaded.Dataset.Test with
        | Some test when Batching.isVqa test || test.Examples |> Array.forall (fun e -> e.Answer >= 0) -> Ok test
        | _ -> Error $"--split test: {loaded.Data.Directory} has no test split with answers, nor VQA's (whose predictions --results writes)"
    | other -> Error $"--split: unknown split '{other}' (expected val, train or test)"
