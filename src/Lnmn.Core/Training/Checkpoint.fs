/// Checkpoints: one file with the model, both optimisers, the RNG state, where training stands, and
/// the specs and vocabularies needed to rebuild everything from the file alone.
///
/// Layout: "LNMNCKPT" | int32 format | int64 payload length | payload | SHA-256 of the payload | "LNMN-END"
/// (format 1 has no SHA-256). A file whose length, end marker or checksum disagrees is refused, so a
/// checkpoint cut short or changed on disk is never read. Written to a temporary name, flushed, then
/// renamed over the last one, which is kept beside it as `previous.ckpt` (a hard link, no copy).
module Lnmn.Core.Training.Checkpoint

open System
open System.IO
open System.Text
open TorchSharp
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Data
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

/// How long a run goes and how it is watched: fixed when the run starts, recorded in every
/// checkpoint, and honoured when it is resumed (the rest of what defines a run is its
/// `TrainingSpec`: epochs, seed, α's warm-up fraction, and its data).
type Plan =
    { /// The weight steps the schedules (λ_w, α's warm-up and lr, the lr decay) are laid over: the
      /// epochs over the training examples.
      PlannedSteps: int
      /// --max-steps: the run stops there when it comes before PlannedSteps.
      MaxSteps: int option
      /// --eval-every.
      EvalEvery: int option
      /// Intra-op CPU threads the run started with: a resumed run's default (CPU sums depend on them).
      Threads: int
      /// Data-parallel workers the run started with, a resumed run's default as Threads is; None: the
      /// batch is not split (and checkpoints older than this record).
      Workers: int option }

module Plan =
    /// The weight step the run ends at.
    let lastStep (plan: Plan) =
        match plan.MaxSteps with
        | Some m -> min plan.PlannedSteps m
        | None -> plan.PlannedSteps

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
      /// None in checkpoints older than that record.
      Plan: Plan option
      /// torch's CPU generator state, base64.
      RngState: string }

let private header = "LNMNCKPT"B
let private footer = "LNMN-END"B
let private formatVersion = 2
let private checksumLength = 32

/// Where the checkpoint before the last is kept, next to `path`.
let previousPath (path: string) = Path.Combine(Path.GetDirectoryName(Path.GetFullPath path), "previous.ckpt")

[<System.Runtime.InteropServices.DllImport("libc", SetLastError = true)>]
extern int link(string existing, string newPath)

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

/// Writes atomically: a kill at any moment leaves the previous file at `path` intact, and a whole
/// checkpoint there. The one it replaces stays as `previousPath path`. A full disk raises
/// `AtomicFile.NoSpaceLeft path`, with the partial file removed and both checkpoints as they were.
let save (path: string) (metadata: Metadata) (state: Steps.TrainingState) =
    let payload =
        toBytes (fun w ->
            writeBlock w (Encoding.UTF8.GetBytes(SpecJson.serialize metadata))
            writeBlock w (toBytes (fun m -> state.Network.save(m) |> ignore))
            writeBlock w (toBytes state.WeightOptimiser.save_state_dict)
            writeBlock w (toBytes state.AlphaOptimiser.save_state_dict))
    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath path)) |> ignore
    // The last checkpoint becomes the previous one: linked (no copy; a kill leaves both names whole).
    let keepPrevious () =
        if File.Exists path then
            let previous = previousPath path
            let linking = AtomicFile.partialPath previous
            File.Delete linking
            if link (path, linking) <> 0 then AtomicFile.failingForSpace previous (fun () -> File.Copy(path, linking))
            File.Move(linking, previous, true)
    AtomicFile.writeReplacing path keepPrevious (fun temporary ->
        use file = new FileStream(temporary, FileMode.Create, FileAccess.Write)
        use w = new BinaryWriter(file)
        w.Write(header)
        w.Write(formatVersion)
        writeBlock w payload
        w.Write(Security.Cryptography.SHA256.HashData payload)
        w.Write(footer)
        w.Flush()
        file.Flush(true))

/// The payload's blocks, or a one-line reason the file is not a whole checkpoint.
let private readBlocks (path: string) : Result<byte[] list, string> =
    let bytes = File.ReadAllBytes path
    let fail why = Error $"{path}: {why}"
    let headerLength = header.Length + 4 + 8
    let version = if bytes.Length < headerLength then 0 else BitConverter.ToInt32(bytes, header.Length)
    let checksum = if version >= 2 then checksumLength else 0
    if bytes.Length < headerLength || bytes.[0 .. header.Length - 1] <> header then fail "not an lnmn checkpoint (damaged, or another kind of file)"
    elif version <> 1 && version <> formatVersion then fail $"unknown checkpoint format version {version} (damaged, or written by a newer lnmn-train)"
    else
        let payloadLength = BitConverter.ToInt64(bytes, header.Length + 4)
        let expected = int64 headerLength + payloadLength + int64 checksum + int64 footer.Length
        if payloadLength < 0L || int64 bytes.Length <> expected || bytes.[bytes.Length - footer.Length ..] <> footer then
            fail $"checkpoint is truncated or corrupt ({bytes.Length} bytes, header promises {expected})"
        elif checksum > 0
             && bytes.[headerLength + int payloadLength .. headerLength + int payloadLength + checksum - 1]
                <> Security.Cryptography.SHA256.HashData(ReadOnlySpan(bytes, headerLength, int payloadLength)) then
            fail "checkpoint is corrupt (its checksum does not match: bytes changed since it was written)"
        else
            let rec blocks offset acc =
                if offset >= headerLength + int payloadLength then Ok(List.rev acc)
                else
                    let n = BitConverter.ToInt64(bytes, offset)
                    if n < 0L || int64 offset + 8L + n > int64 headerLength + payloadLength then fail "checkpoint is corrupt (a block runs past its end)"
                    else blocks (offset + 8 + int n) (bytes.[offset + 8 .. offset + 7 + int n] :: acc)
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

/// Opens a saved model: the network compiled from the spec the checkpoint records, its weights and
/// optimiser states loaded, on the CPU. Every reader of a checkpoint (eval, report, export,
/// fine-tuning, the analysis scripts) starts here.
let openState (path: string) : Result<Metadata * Steps.TrainingState, string> =
    readMetadata path
    |> Result.bind (fun metadata ->
        let state = Steps.createState metadata.Training (Lnmn.Core.Network.LnmnNetwork.compile metadata.Model)
        load path state |> Result.map (fun _ -> metadata, state))
