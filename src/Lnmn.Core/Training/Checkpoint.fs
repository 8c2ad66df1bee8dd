/// Checkpoints: one file with the model, both optimisers, the RNG state, where training stands, and
/// the specs and vocabularies needed to rebuild everything from the file alone.
///
/// Layout: "LNMNCKPT" | int32 format | int64 payload length | payload | "LNMN-END".
/// A file whose length or end marker disagrees with its header is refused, so a checkpoint cut
/// short by a kill is never half-read. Written to a temporary name, flushed, then renamed.
module Lnmn.Core.Training.Checkpoint

open System
open System.IO
open System.Text
open TorchSharp
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Training.TrainingSpec

/// Where training stands: the next batch to run is `BatchInEpoch` of `Epoch`. The sums of the
/// weight steps' loss and accuracy over the epoch's first `BatchInEpoch` batches let a run resumed
/// mid-epoch report the same epoch means as an uninterrupted one.
type Progress =
    { Epoch: int
      BatchInEpoch: int
      GlobalStep: int
      EpochLossSum: float
      EpochAccuracySum: float }

module Progress =
    let start = { Epoch = 0; BatchInEpoch = 0; GlobalStep = 0; EpochLossSum = 0.0; EpochAccuracySum = 0.0 }

type Metadata =
    { Model: ModelSpec
      Training: TrainingSpec
      Words: string list
      Answers: string list
      /// The dataset directory trained on, absolute; None in checkpoints older than that record
      /// (they trained on the built-in default).
      DataDirectory: string option
      /// For data made by the built-in generator, what made it (to make it again where it is gone).
      DataRecipe: Lnmn.Core.Data.BuiltIn.Recipe option
      Progress: Progress
      /// torch's CPU generator state, base64.
      RngState: string }

let private header = "LNMNCKPT"B
let private footer = "LNMN-END"B
let private formatVersion = 1

let private writeBlock (w: BinaryWriter) (bytes: byte[]) =
    w.Write(int64 bytes.Length)
    w.Write(bytes)

let private toBytes (write: BinaryWriter -> unit) =
    use stream = new MemoryStream()
    use w = new BinaryWriter(stream)
    write w
    w.Flush()
    stream.ToArray()

let currentRngState () =
    use state = torch.random.get_rng_state ()
    Convert.ToBase64String(state.data<byte>().ToArray())

let restoreRngState (base64: string) =
    use state = torch.tensor(Convert.FromBase64String base64)
    torch.random.set_rng_state state

/// Writes atomically: a kill at any moment leaves the previous file at `path` intact.
let save (path: string) (metadata: Metadata) (state: Steps.TrainingState) =
    let payload =
        toBytes (fun w ->
            writeBlock w (Encoding.UTF8.GetBytes(SpecJson.serialize metadata))
            writeBlock w (toBytes (fun m -> state.Network.save(m) |> ignore))
            writeBlock w (toBytes state.WeightOptimiser.save_state_dict)
            writeBlock w (toBytes state.AlphaOptimiser.save_state_dict))
    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath path)) |> ignore
    let temporary = path + ".partial"
    do
        use file = new FileStream(temporary, FileMode.Create, FileAccess.Write)
        use w = new BinaryWriter(file)
        w.Write(header)
        w.Write(formatVersion)
        writeBlock w payload
        w.Write(footer)
        w.Flush()
        file.Flush(true)
    File.Move(temporary, path, true)

/// The payload's blocks, or a one-line reason the file is not a whole checkpoint.
let private readBlocks (path: string) : Result<byte[] list, string> =
    let bytes = File.ReadAllBytes path
    let fail why = Error $"{path}: {why}"
    let headerLength = header.Length + 4 + 8
    if bytes.Length < headerLength || bytes.[0 .. header.Length - 1] <> header then fail "not an lnmn checkpoint"
    elif BitConverter.ToInt32(bytes, header.Length) <> formatVersion then fail "unknown checkpoint format version"
    else
        let payloadLength = BitConverter.ToInt64(bytes, header.Length + 4)
        if int64 bytes.Length <> int64 headerLength + payloadLength + int64 footer.Length
           || bytes.[bytes.Length - footer.Length ..] <> footer then
            fail $"checkpoint is truncated or corrupt ({bytes.Length} bytes, header promises {int64 headerLength + payloadLength + int64 footer.Length})"
        else
            let rec blocks offset acc =
                if offset >= headerLength + int payloadLength then Ok(List.rev acc)
                else
                    let n = int (BitConverter.ToInt64(bytes, offset))
                    blocks (offset + 8 + n) (bytes.[offset + 8 .. offset + 7 + n] :: acc)
            blocks headerLength []

let readMetadata (path: string) : Result<Metadata, string> =
    if not (File.Exists path) then Error $"{path}: no such checkpoint"
    else
        readBlocks path
        |> Result.bind (fun blocks ->
            try Ok(SpecJson.deserialize<Metadata> (Encoding.UTF8.GetString blocks.Head))
            with e -> Error $"{path}: unreadable checkpoint metadata ({e.Message})")

/// Loads parameters and optimiser state into an already compiled state of the same spec.
let load (path: string) (state: Steps.TrainingState) : Result<Metadata, string> =
    readMetadata path
    |> Result.bind (fun metadata ->
        match readBlocks path with
        | Ok [ _; model; weightOptimiser; alphaOptimiser ] ->
            let reader (b: byte[]) = new BinaryReader(new MemoryStream(b))
            try
                use m = reader model
                state.Network.load(m, strict = true) |> ignore
                use w = reader weightOptimiser
                state.WeightOptimiser.load_state_dict w
                use a = reader alphaOptimiser
                state.AlphaOptimiser.load_state_dict a
                Ok metadata
            with e -> Error $"{path}: does not match this model ({e.Message})"
        | Ok _ -> Error $"{path}: checkpoint has the wrong number of parts"
        | Error e -> Error e)
