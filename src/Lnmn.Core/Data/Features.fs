/// Image features as C×H×W float32 maps, read in batches from HDF5 or a folder of .npy files.
module Lnmn.Core.Data.Features

open System
open System.IO
open PureHDF
open PureHDF.Selections
open PureHDF.VOL.Native

/// A source of per-image feature maps. `Read` returns the maps of the given images, in that
/// order, as one row-major B×C×H×W array; it raises DataException on NaN or Inf.
type FeatureSource =
    inherit IDisposable
    abstract Path: string
    abstract Count: int
    abstract Channels: int
    abstract Height: int
    abstract Width: int
    abstract Read: imageIndices: int[] -> float32[]

let imageSize (s: FeatureSource) = s.Channels * s.Height * s.Width

let private checkFinite (path: string) (rowOf: int -> int) (size: int) (data: float32[]) =
    for i in 0 .. data.Length - 1 do
        if not (Single.IsFinite data[i]) then
            let what = if Single.IsNaN data[i] then "NaN" else "Inf"
            DataError.fail path (Some $"row {rowOf (i / size)}") $"{what} in the features"

let private checkIndices (path: string) (count: int) (indices: int[]) =
    for i in indices do
        if i < 0 || i >= count then DataError.fail path (Some $"row {i}") $"image index beyond the {count} feature rows"

/// The dataset names accepted in an HDF5 features file: clevr-iep writes `features`, the LNMN
/// authors' script `data`.
let datasetNames = [ "features"; "data" ]

type private Hdf5Source(path: string, file: NativeFile, dataset: IH5Dataset, dims: int[]) =
    let size = dims[1] * dims[2] * dims[3]
    interface FeatureSource with
        member _.Path = path
        member _.Count = dims[0]
        member _.Channels = dims[1]
        member _.Height = dims[2]
        member _.Width = dims[3]
        member _.Read(indices) =
            checkIndices path dims[0] indices
            let result = Array.zeroCreate<float32> (indices.Length * size)
            // Read runs of consecutive rows with one hyperslab each.
            let mutable k = 0
            while k < indices.Length do
                let mutable run = 1
                while k + run < indices.Length && indices[k + run] = indices[k] + run do run <- run + 1
                let selection =
                    HyperslabSelection(4, [| uint64 indices[k]; 0UL; 0UL; 0UL |], [| uint64 run; uint64 dims[1]; uint64 dims[2]; uint64 dims[3] |])
                dataset.Read(Memory<float32>(result, k * size, run * size), selection)
                k <- k + run
            checkFinite path (fun b -> indices[b]) size result
            result
        member _.Dispose() = file.Dispose()

/// What a file HDF5 cannot open holds: empty, no HDF5 signature (at offset 0, 512, 1024, … as the
/// format allows for a user block), or a signature and a truncated or damaged rest.
let private unreadableHdf5 (path: string) =
    let signature = [| 0x89uy; 'H'B; 'D'B; 'F'B; '\r'B; '\n'B; 0x1auy; '\n'B |]
    let length = FileInfo(path).Length
    if length = 0L then "an empty file (0 bytes), not HDF5"
    else
        use stream = File.OpenRead path
        let header = Array.zeroCreate<byte> 8
        let signedAt offset =
            offset + 8L <= length
            && (stream.Seek(offset, SeekOrigin.Begin) |> ignore
                stream.ReadAtLeast(Span header, 8, false) = 8 && header = signature)
        let offsets = Seq.unfold (fun o -> if o + 8L <= length then Some(o, (if o = 0L then 512L else 2L * o)) else None) 0L
        if Seq.exists signedAt offsets then $"an HDF5 file that is truncated or damaged ({length} bytes)"
        else $"not an HDF5 file (no HDF5 signature in its {length} bytes)"

/// Opens an HDF5 file holding (N, C, H, W) float32 under `features` or `data`.
let openHdf5 (path: string) : Result<FeatureSource, DataError> =
    DataError.catch path (fun () ->
        let file =
            try
                H5File.OpenRead path
            with
            | :? FileNotFoundException -> DataError.fail path None "file not found"
            | e when not (e :? DataException) -> DataError.fail path None (unreadableHdf5 path)
        try
            let name =
                match datasetNames |> List.tryFind (fun n -> file.LinkExists n) with
                | Some n -> n
                | None -> DataError.fail path None "no dataset named 'features' or 'data'"
            let dataset = file.Dataset name
            let dims = dataset.Space.Dimensions |> Array.map int
            if dims.Length <> 4 then
                DataError.fail path None $"dataset '{name}' has shape ({String.Join(',', dims)}), expected (N, C, H, W)"
            if dataset.Type.Class <> H5DataTypeClass.FloatingPoint || dataset.Type.Size <> 4 then
                DataError.fail path None $"dataset '{name}' has type {dataset.Type.Class} of {dataset.Type.Size} bytes, expected float32"
            new Hdf5Source(path, file, dataset, dims) :> FeatureSource
        with e ->
            file.Dispose()
            reraise ())

/// Writes (N, C, H, W) float32 under `features`, one batch of rows at a time, so the whole
/// array never has to be in memory; `extra` adds other datasets to the file.
let private writeFeatures (path: string) (n: int) (c: int) (h: int) (w: int) (batchRows: int) (rows: int -> int -> float32[]) (extra: H5File -> unit) =
    AtomicFile.write path (fun temporary ->
        let dataset = H5Dataset<float32[]>(fileDims = [| uint64 n; uint64 c; uint64 h; uint64 w |])
        let file = H5File()
        file["features"] <- dataset
        extra file
        use writer = file.BeginWrite temporary
        let mutable start = 0
        while start < n do
            let count = min batchRows (n - start)
            let data = rows start count
            if data.Length <> count * c * h * w then invalidArg "rows" "a batch of rows has the wrong length"
            let selection = HyperslabSelection(4, [| uint64 start; 0UL; 0UL; 0UL |], [| uint64 count; uint64 c; uint64 h; uint64 w |])
            writer.Write(dataset, data, fileSelection = selection)
            start <- start + count)

/// `rows start count` returns rows [start, start+count).
let writeHdf5 (path: string) (n: int) (c: int) (h: int) (w: int) (batchRows: int) (rows: int -> int -> float32[]) =
    writeFeatures path n c h w batchRows rows ignore

/// Header of a .npy file: shape and dtype descriptor; data offset.
let private readNpyHeader (path: string) (stream: Stream) =
    let reader = new BinaryReader(stream, Text.Encoding.ASCII, true)
    let magic = reader.ReadBytes 6
    if magic.Length < 6 || magic[0] <> 0x93uy || Text.Encoding.ASCII.GetString(magic, 1, 5) <> "NUMPY" then
        DataError.fail path None "not a .npy file"
    let major = reader.ReadByte()
    reader.ReadByte() |> ignore
    let headerLength = if major = 1uy then int (reader.ReadUInt16()) else int (reader.ReadUInt32())
    let header = Text.Encoding.ASCII.GetString(reader.ReadBytes headerLength)
    let field (name: string) =
        let m = Text.RegularExpressions.Regex.Match(header, $"'{name}':\\s*('([^']*)'|\\(([^)]*)\\)|(True|False))")
        if not m.Success then DataError.fail path None $".npy header has no '{name}'"
        m
    let descr = (field "descr").Groups[2].Value
    let fortran = (field "fortran_order").Groups[4].Value = "True"
    let shape =
        (field "shape").Groups[3].Value.Split(',', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries)
        |> Array.map int
    if descr <> "<f4" then DataError.fail path None $".npy dtype '{descr}', expected float32 ('<f4')"
    if fortran then DataError.fail path None ".npy in Fortran order is not supported"
    shape, stream.Position

/// Writes one image as Stack-NMN does: a (1, H, W, C) float32 .npy file. `chw` is C×H×W.
let writeNpy (path: string) (c: int) (h: int) (w: int) (chw: float32[]) =
    AtomicFile.write path (fun temporary ->
        use stream = File.Create temporary
        let header =
            let text = $"{{'descr': '<f4', 'fortran_order': False, 'shape': (1, {h}, {w}, {c}), }}"
            let padded = text.PadRight(((text.Length + 10 + 1 + 63) / 64) * 64 - 10 - 1) + "\n"
            padded
        let write (bytes: byte[]) = stream.Write(bytes, 0, bytes.Length)
        write [| 0x93uy |]
        write (Text.Encoding.ASCII.GetBytes "NUMPY\001\000")
        write (BitConverter.GetBytes(uint16 header.Length))
        write (Text.Encoding.ASCII.GetBytes header)
        let hwc = Array.zeroCreate<float32> (c * h * w)
        for ci in 0 .. c - 1 do
            for y in 0 .. h - 1 do
                for x in 0 .. w - 1 do
                    hwc[(y * w + x) * c + ci] <- chw[(ci * h + y) * w + x]
        stream.Write(Runtime.InteropServices.MemoryMarshal.AsBytes(ReadOnlySpan hwc)))

type private NpySource(path: string, files: string[], c: int, h: int, w: int) =
    let size = c * h * w
    interface FeatureSource with
        member _.Path = path
        member _.Count = files.Length
        member _.Channels = c
        member _.Height = h
        member _.Width = w
        member _.Read(indices) =
            checkIndices path files.Length indices
            let result = Array.zeroCreate<float32> (indices.Length * size)
            let hwc = Array.zeroCreate<float32> size
            indices
            |> Array.iteri (fun b row ->
                let file = files[row]
                use stream = File.OpenRead file
                let shape, _ = readNpyHeader file stream
                if shape <> [| 1; h; w; c |] then
                    DataError.fail file (Some $"row {row}") $".npy shape ({String.Join(',', shape)}), expected (1, {h}, {w}, {c})"
                let bytes = Runtime.InteropServices.MemoryMarshal.AsBytes(Span hwc)
                if stream.ReadAtLeast(bytes, bytes.Length, false) < bytes.Length then
                    DataError.fail file (Some $"row {row}") "truncated .npy file"
                for y in 0 .. h - 1 do
                    for x in 0 .. w - 1 do
                        for ci in 0 .. c - 1 do
                            result[b * size + (ci * h + y) * w + x] <- hwc[(y * w + x) * c + ci])
            checkFinite path (fun b -> indices[b]) size result
            result
        member _.Dispose() = ()

let private npyShape (file: string) =
    use stream =
        try
            File.OpenRead file
        with :? FileNotFoundException | :? DirectoryNotFoundException -> DataError.fail file None "file not found"
    fst (readNpyHeader file stream)

/// A source over `files`, its shape from the first file's header; with `checkAll`, every other
/// header must agree.
let private npySource (label: string) (files: string[]) (checkAll: bool) =
    let first = files[0]
    let shape = npyShape first
    let shown (s: int[]) = String.Join(',', s)
    if shape.Length <> 4 || shape[0] <> 1 then DataError.fail first None $".npy shape ({shown shape}), expected (1, H, W, C)"
    if checkAll then
        for f in files do
            let s = npyShape f
            if s <> shape then DataError.fail f None $".npy shape ({shown s}), expected ({shown shape}) as {Path.GetFileName first}"
    new NpySource(label, files, shape[3], shape[1], shape[2]) :> FeatureSource

/// Opens Stack-NMN's layout: one (1, H, W, C) .npy per image; row i is the file whose name
/// ends in the number i (CLEVR_train_000042.npy is row 42). Rows must be 0 … N−1 without gaps.
let openNpyDirectory (dir: string) : Result<FeatureSource, DataError> =
    DataError.catch dir (fun () ->
        if not (Directory.Exists dir) then DataError.fail dir None "directory not found"
        let numbered =
            Directory.GetFiles(dir, "*.npy")
            |> Array.map (fun f ->
                let m = Text.RegularExpressions.Regex.Match(Path.GetFileNameWithoutExtension f, "(\\d+)$")
                if not m.Success then DataError.fail f None "a .npy file name should end in the image index"
                int m.Groups[1].Value, f)
            |> Array.sortBy fst
        if numbered.Length = 0 then DataError.fail dir None "no .npy files"
        numbered |> Array.iteri (fun i (row, f) -> if row <> i then DataError.fail f None $"expected image index {i} here (rows must be 0 … N−1)")
        npySource dir (Array.map snd numbered) false)

/// Opens one (1, H, W, C) .npy per row, rows in the order of `files` (VQA's files named by COCO image
/// id). Every file's header is read now, so a missing file or one of another shape is reported
/// before training starts; the data is still read only batch by batch.
let openNpyFiles (label: string) (files: string[]) : Result<FeatureSource, DataError> =
    DataError.catch label (fun () ->
        if files.Length = 0 then DataError.fail label None "no images"
        npySource label files true)

/// Rows of `inner` picked by `rows`: row i of this source is row rows[i] of the file.
type private PickedRows(inner: FeatureSource, rows: int[]) =
    interface FeatureSource with
        member _.Path = inner.Path
        member _.Count = rows.Length
        member _.Channels = inner.Channels
        member _.Height = inner.Height
        member _.Width = inner.Width
        member _.Read(indices) =
            checkIndices inner.Path rows.Length indices
            inner.Read(indices |> Array.map (fun i -> rows[i]))
        member _.Dispose() = inner.Dispose()

/// Rows picked from several sources of one shape: row i is row `snd rows[i]` of `sources[fst rows[i]]`.
type private JoinedRows(label: string, sources: FeatureSource[], rows: (int * int)[]) =
    let first = sources[0]
    let size = imageSize first
    interface FeatureSource with
        member _.Path = label
        member _.Count = rows.Length
        member _.Channels = first.Channels
        member _.Height = first.Height
        member _.Width = first.Width
        member _.Read(indices) =
            checkIndices label rows.Length indices
            let result = Array.zeroCreate<float32> (indices.Length * size)
            indices
            |> Array.indexed
            |> Array.groupBy (fun (_, i) -> fst rows[i])
            |> Array.iter (fun (k, group) ->
                let data = sources[k].Read(group |> Array.map (fun (_, i) -> snd rows[i]))
                group |> Array.iteri (fun g (b, _) -> Array.blit data (g * size) result (b * size) size))
            result
        member _.Dispose() = for s in sources do s.Dispose()

/// One source made of rows of others (CLEVR-Humans: a split's images from several CLEVR splits):
/// row i is row `snd rows[i]` of `sources[fst rows[i]]`. The sources must have one shape; disposing
/// the result disposes them, as does an error here.
let join (sources: FeatureSource[]) (rows: (int * int)[]) : Result<FeatureSource, DataError> =
    let label = sources |> Array.map (fun s -> s.Path) |> String.concat ", "
    let shape (s: FeatureSource) = s.Channels, s.Height, s.Width
    let shown (c, h, w) = $"{c}×{h}×{w}"
    let result =
        if sources.Length = 0 then Error(DataError.make label None "no features to join")
        else
            match sources |> Array.tryFind (fun s -> shape s <> shape sources[0]) with
            | Some other ->
                Error(DataError.make other.Path None $"feature maps are {shown (shape other)}, {sources[0].Path}'s are {shown (shape sources[0])}")
            | None ->
                match rows |> Array.tryFind (fun (k, row) -> k < 0 || k >= sources.Length || row < 0 || row >= sources[k].Count) with
                | Some(k, row) when k >= 0 && k < sources.Length ->
                    Error(DataError.make sources[k].Path (Some $"row {row}") $"image index beyond the {sources[k].Count} feature rows")
                | Some(k, _) -> invalidArg "rows" $"source {k} is not one of the {sources.Length} sources"
                | None -> Ok(new JoinedRows(label, sources, rows) :> FeatureSource)
    if Result.isError result then for s in sources do s.Dispose()
    result

/// Every row of `inner`, read once at the first `Read` (in runs of consecutive rows, so one hyperslab
/// each from HDF5) and served from memory after: a batch of random rows is one read per row from the
/// file, about 7 ms a batch of 64 on the built-in data, on the thread that steps the optimiser. The
/// first read checks every row, so a NaN anywhere stops a run at its first batch, naming the row.
type private InMemoryRows(inner: FeatureSource) =
    let size = imageSize inner
    let rows =
        lazy
            (let all = Array.zeroCreate<float32> (inner.Count * size)
             let chunk = max 1 ((1 <<< 22) / max 1 size)
             for first in 0 .. chunk .. inner.Count - 1 do
                 let count = min chunk (inner.Count - first)
                 Array.blit (inner.Read(Array.init count ((+) first))) 0 all (first * size) (count * size)
             all)
    interface FeatureSource with
        member _.Path = inner.Path
        member _.Count = inner.Count
        member _.Channels = inner.Channels
        member _.Height = inner.Height
        member _.Width = inner.Width
        member _.Read(indices) =
            checkIndices inner.Path inner.Count indices
            let all = rows.Force()
            let result = Array.zeroCreate<float32> (indices.Length * size)
            indices |> Array.iteri (fun b row -> Array.blit all (row * size) result (b * size) size)
            result
        member _.Dispose() = inner.Dispose()

/// The features held in memory by `inMemoryUpTo`: at most this many bytes (the built-in data's
/// training features are 51 MB; CLEVR's are tens of GB and stay on disk).
let inMemoryLimit = 1L <<< 30

/// `source` served from memory when its rows take at most `limitBytes`, else `source` itself.
let inMemoryUpTo (limitBytes: int64) (source: FeatureSource) : FeatureSource =
    if int64 source.Count * int64 (imageSize source) * 4L <= limitBytes then new InMemoryRows(source) :> FeatureSource
    else source

/// The integer ids of an HDF5 file's rows, from a 1-D dataset of 32- or 64-bit integers.
let private readIds (path: string) (name: string) (expectedCount: int) : int64[] =
    use file = H5File.OpenRead path
    if not (file.LinkExists name) then DataError.fail path None $"no dataset named '{name}' (the image id of each row)"
    let dataset = file.Dataset name
    let dims = dataset.Space.Dimensions
    if dims.Length <> 1 || int dims[0] <> expectedCount then
        DataError.fail path None $"dataset '{name}' has shape ({String.Join(',', dims)}), expected ({expectedCount})"
    match dataset.Type.Class, dataset.Type.Size with
    | H5DataTypeClass.FixedPoint, 8 -> dataset.Read<int64[]>()
    | H5DataTypeClass.FixedPoint, 4 -> dataset.Read<int[]>() |> Array.map int64
    | c, size -> DataError.fail path None $"dataset '{name}' has type {c} of {size} bytes, expected 32- or 64-bit integers"

/// Opens an HDF5 file of (N, C, H, W) features with `image_ids` (N) naming each row's image; row i
/// of the source is the row of imageIds[i].
let openHdf5Rows (path: string) (imageIds: int[]) : Result<FeatureSource, DataError> =
    openHdf5 path
    |> Result.bind (fun source ->
        let picked =
            DataError.catch path (fun () ->
                let rowOf = readIds path "image_ids" source.Count |> Array.mapi (fun row id -> id, row) |> dict
                let rows =
                    imageIds
                    |> Array.map (fun id ->
                        match rowOf.TryGetValue(int64 id) with
                        | true, row -> row
                        | _ -> DataError.fail path None $"no features for image {id} (not in its 'image_ids')")
                new PickedRows(source, rows) :> FeatureSource)
        if Result.isError picked then source.Dispose()
        picked)

/// `writeHdf5` with the rows' image ids under `image_ids` (VQA's layout).
let writeHdf5WithIds (path: string) (imageIds: int64[]) (c: int) (h: int) (w: int) (batchRows: int) (rows: int -> int -> float32[]) =
    writeFeatures path imageIds.Length c h w batchRows rows (fun file -> file["image_ids"] <- imageIds)
