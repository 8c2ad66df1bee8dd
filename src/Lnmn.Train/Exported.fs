/// Trained weights for other tools (docs/weights.md): a checkpoint's parameters under their
/// exported names (`ParameterNames`) as safetensors or a PyTorch state dict (TorchSharp.PyBridge),
/// and beside them `NAME.spec.json`, what rebuilds the network. `import` turns such a pair back
/// into a checkpoint that eval, report and --finetune-from read.
module Lnmn.Train.Exported

open System
open System.Collections.Generic
open System.IO
open TorchSharp
open TorchSharp.PyBridge
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Core.Training
open Lnmn.Core.Training.TrainingSpec

type Format = Lnmn.Train.Configs.WeightsFormat

module Format =
    /// A file's format from its first bytes: a zip (PyTorch) or a safetensors header (a little-endian
    /// length, then JSON).
    let sniff (path: string) : Result<Format, string> =
        let head = Array.zeroCreate<byte> 9
        let read =
            use f = File.OpenRead path
            f.Read(head, 0, head.Length)
        if read >= 4 && head.[0] = byte 'P' && head.[1] = byte 'K' then Ok Format.PyTorch
        elif read = 9 && head.[8] = byte '{' && BitConverter.ToInt64(head, 0) + 8L < FileInfo(path).Length then Ok Format.Safetensors
        else Error $"{path}: neither a safetensors file nor a PyTorch state dict"

/// What `NAME.spec.json` holds: the checkpoint's metadata without its progress and RNG state.
type Description =
    { Model: ModelSpec
      Training: TrainingSpec
      Words: string list
      Answers: string list
      DataDirectory: string option
      /// How the built-in data it was trained on can be made again (None: other data, or an older file).
      DataRecipe: Lnmn.Core.Data.BuiltIn.Recipe option }

/// `DIR/NAME.spec.json` beside `DIR/NAME.EXT`.
let specPath (weights: string) =
    Path.Combine(Path.GetDirectoryName weights, Path.GetFileNameWithoutExtension weights + ".spec.json")

/// Writes tensors under their names to `path` (temporary name, then renamed).
let writeTensors (format: Format) (path: string) (tensors: (string * torch.Tensor) list) =
    let dictionary = Dictionary<string, torch.Tensor>()
    for name, t in tensors do dictionary.[name] <- t.detach().cpu().contiguous()
    Data.AtomicFile.write path (fun temporary ->
        match format with
        | Format.Safetensors -> Safetensors.SaveStateDict(temporary, dictionary)
        | Format.PyTorch -> PyTorchPickler.PickleStateDict(temporary, dictionary))

/// The tensors of a safetensors file or PyTorch state dict, by name.
let readTensors (path: string) : Result<Map<string, torch.Tensor>, string> =
    Format.sniff path
    |> Result.bind (fun format ->
        try
            match format with
            | Format.Safetensors -> Safetensors.LoadStateDict(path, null) |> Seq.map (fun kv -> kv.Key, kv.Value) |> Map.ofSeq |> Ok
            | Format.PyTorch ->
                PyTorchUnpickler.UnpickleStateDict path
                |> Seq.cast<Collections.DictionaryEntry>
                |> Seq.map (fun e -> string e.Key, e.Value :?> torch.Tensor)
                |> Map.ofSeq
                |> Ok
        with e -> Error $"{path}: unreadable {format} file ({e.Message.Split('\n').[0]})")

/// Writes a network's parameters to `out` and its description to `specPath out`.
let exportNetwork (network: LnmnNetwork.LnmnNetwork) (description: Description) (format: Format) (out: string) : Result<string list, string> =
    result {
        let! tensors = ParameterNames.export network
        let directory = Path.GetDirectoryName(Path.GetFullPath out)
        do! if Directory.Exists directory then Ok() else Error $"{out}: no such directory {directory}"
        Data.AtomicFile.writeAllText (specPath out) (SpecJson.serialize description)
        writeTensors format out tensors
        return [ out; specPath out ]
    }

/// Writes a checkpoint's parameters to `out` and its description to `specPath out`.
let export (checkpoint: string) (format: Format) (out: string) : Result<string list, string> =
    result {
        let! metadata, state = Checkpoint.openState checkpoint
        let network = state.Network
        let description =
            { Model = metadata.Model; Training = metadata.Training; Words = metadata.Words; Answers = metadata.Answers
              DataDirectory = metadata.DataDirectory; DataRecipe = metadata.DataRecipe }
        return! exportNetwork network description format out |> Result.mapError (fun e -> if e.Contains out then e else $"{checkpoint}: {e}")
    }

/// Reads an exported file and its description into a network of the described spec.
let load (weights: string) : Result<Description * LnmnNetwork.LnmnNetwork, string> =
    result {
        do! if File.Exists weights then Ok() else Error $"{weights}: no such file"
        let spec = specPath weights
        do! if File.Exists spec then Ok() else Error $"{weights}: no {Path.GetFileName spec} beside it (export writes one)"
        let! description =
            try Ok(SpecJson.deserialize<Description> (File.ReadAllText spec))
            with e -> Error $"{spec}: not an exported model description ({e.Message.Split('\n').[0]})"
        let! tensors = readTensors weights
        let network = LnmnNetwork.compile description.Model
        do! ParameterNames.import network tensors |> Result.mapError (fun e -> $"{weights}: {e}")
        return description, network
    }

/// A checkpoint from an exported file: its parameters with fresh optimisers, training at its start.
let import (weights: string) (out: string) : Result<string, string> =
    result {
        let! description, network = load weights
        do! if File.Exists out then Error $"{out}: already exists (import writes a new checkpoint)" else Ok()
        let metadata: Checkpoint.Metadata =
            { Model = description.Model; Training = description.Training; Words = description.Words
              Answers = description.Answers; DataDirectory = description.DataDirectory; DataRecipe = description.DataRecipe
              Progress = Checkpoint.Progress.start; Plan = None; RngState = Checkpoint.currentRngState () }
        Checkpoint.save out metadata (Steps.createState description.Training network)
        return out
    }
