module Lnmn.Tests.DataBadInputTests

open System
open System.IO
open Expecto
open PureHDF
open Lnmn.Core.Data
open Lnmn.Tests.TestUtil

let private goodQuestion = """{"question": "How many things are there?", "answer": "2", "image_index": 0, "image_filename": "a.png", "split": "train", "program": [{"function": "scene", "inputs": [], "value_inputs": []}, {"type": "count", "inputs": [0], "value_inputs": []}]}"""

let private questionsFile (dir: string) (items: string list) =
    let path = Path.Combine(dir, "q.json")
    File.WriteAllText(path, "{\"info\": {}, \"questions\": [" + String.Join(",", items) + "]}")
    path

/// The one-line error of reading `items` as a questions file.
let private readError (items: string list) =
    let dir = temporaryDirectory ()
    let path = questionsFile dir items
    oneLineError path (ClevrJson.readQuestionsChecked path)

/// A copy of the generated dataset to break.
let private copyOfGenerated () =
    let dir = temporaryDirectory ()
    copyDirectory (DataGenerationTests.generated.Force()) dir
    dir

/// The load error after `edit` is applied to the text of a copy's val questions.
let private loadErrorAfterEditingVal (edit: string -> string) =
    let dir = copyOfGenerated ()
    let path = DatasetLayout.questionsFile dir "val"
    File.WriteAllText(path, edit (File.ReadAllText path))
    oneLineError path (Dataset.loadDataset dir)

let private writeFeatures (path: string) (dataset: H5Dataset) =
    let file = H5File()
    file["features"] <- dataset
    file.Write path

let badInputTests =
    testList "bad inputs" [
        test "a good file reads, with function or type keys" {
            let dir = temporaryDirectory ()
            match ClevrJson.readQuestionsChecked (questionsFile dir [ goodQuestion; goodQuestion ]) with
            | Ok qs -> Expect.equal (qs |> Array.map (fun q -> Clevr.category q.Program.Value)) [| Some Clevr.Category.Count; Some Clevr.Category.Count |] "categories"
            | Error e -> failtest (DataError.describe e)
        }
        test "truncated JSON" {
            let dir = temporaryDirectory ()
            let path = questionsFile dir [ goodQuestion; goodQuestion ]
            let text = File.ReadAllText path
            File.WriteAllText(path, text.Substring(0, text.Length - 60))
            match ClevrJson.readQuestionsChecked path with
            | Error e -> Expect.stringContains (DataError.describe e) "question 1: truncated JSON" "names question 1"
            | Ok _ -> failtest "accepted a truncated file"
        }
        test "a question nested 100,000 levels deep says so, with the limit; a flat non-object says it is not an object" {
            let deep = String.replicate 100_000 "[" + String.replicate 100_000 "]"
            Expect.stringContains (readError [ deep ]) "question 0: nested more than 64 levels deep (the limit)" "deep"
            Expect.stringContains (readError [ goodQuestion; "[1, 2]" ]) "question 1: is not a JSON object" "flat array"
            Expect.stringContains (readError [ goodQuestion; "\"text\"" ]) "question 1: is not a JSON object" "a string"
        }
        test "invalid JSON inside a question" {
            Expect.stringContains (readError [ goodQuestion; goodQuestion.Replace("\"answer\": \"2\"", "\"answer\" \"2\"") ]) "question 1: invalid JSON" "line" }
        test "missing field" {
            Expect.stringContains (readError [ goodQuestion.Replace("\"image_index\": 0,", "") ]) "question 0: missing field 'image_index'" "line" }
        test "mistyped field" {
            Expect.stringContains (readError [ goodQuestion; goodQuestion.Replace("\"image_index\": 0", "\"image_index\": \"zero\"") ]) "question 1: field 'image_index' should be an integer" "line" }
        test "unknown program function" {
            Expect.stringContains (readError [ goodQuestion.Replace("\"type\": \"count\"", "\"type\": \"count_all\"") ]) "question 0: program step 1: unknown program function 'count_all'" "line" }
        test "answer outside the answer set" {
            let line = loadErrorAfterEditingVal (fun text -> text.Replace("\"answer\":\"yes\"", "\"answer\":\"maybe\""))
            Expect.stringContains line "answer 'maybe' is not one of the 28 answers" "line"
        }
        test "image index beyond the feature rows" {
            let line = loadErrorAfterEditingVal (fun text -> text.Replace("\"image_index\":3,", "\"image_index\":99999,"))
            Expect.stringContains line "image index 99999 is beyond the" "line"
        }
        test "feature shape and dtype" {
            let dir = temporaryDirectory ()
            let threeD = Path.Combine(dir, "a.h5")
            writeFeatures threeD (H5Dataset<float32[]>((Array.zeroCreate 24: float32[]), fileDims = [| 2UL; 3UL; 4UL |]))
            match Features.openHdf5 threeD with
            | Error e -> Expect.stringContains (DataError.describe e) "expected (N, C, H, W)" "shape"
            | Ok _ -> failtest "accepted a 3-D dataset"
            let doubles = Path.Combine(dir, "b.h5")
            writeFeatures doubles (H5Dataset<float[]>((Array.zeroCreate 16: float[]), fileDims = [| 1UL; 1UL; 4UL; 4UL |]))
            match Features.openHdf5 doubles with
            | Error e -> Expect.stringContains (DataError.describe e) "expected float32" "dtype"
            | Ok _ -> failtest "accepted float64"
        }
        test "an unreadable feature file says what it holds: empty, not HDF5, or a truncated HDF5 file" {
            let dir = temporaryDirectory ()
            let message (path: string) =
                match Features.openHdf5 path with
                | Error e -> DataError.describe e
                | Ok _ -> failtestf "%s was accepted" path
            let empty = Path.Combine(dir, "empty.h5")
            File.WriteAllBytes(empty, [||])
            Expect.stringContains (message empty) "an empty file (0 bytes)" "empty"
            let text = Path.Combine(dir, "text.h5")
            File.WriteAllText(text, "these are not features")
            Expect.stringContains (message text) "not an HDF5 file (no HDF5 signature in its 22 bytes)" "text"
            let whole = Path.Combine(dir, "whole.h5")
            writeFeatures whole (H5Dataset<float32[]>((Array.zeroCreate 64: float32[]), fileDims = [| 4UL; 1UL; 4UL; 4UL |]))
            let cut = Path.Combine(dir, "cut.h5")
            File.WriteAllBytes(cut, (File.ReadAllBytes whole).[.. 99])
            Expect.stringContains (message cut) "an HDF5 file that is truncated or damaged (100 bytes)" "truncated"
        }
        test "feature maps of another shape: the split that disagrees with the others is named, with both shapes" {
            let dir = copyOfGenerated ()
            let features split = (DatasetLayout.featureCandidates dir split).Head
            // A third split, like val, so that two splits outvote the odd one.
            File.Copy(DatasetLayout.questionsFile dir "val", DatasetLayout.questionsFile dir "test")
            File.Copy(features "val", features "test")
            let rows = DataGenerationTests.smallOptions.TrainScenes
            File.Delete(features "train")
            writeFeatures (features "train") (H5Dataset<float32[]>((Array.zeroCreate (rows * 3 * 16): float32[]), fileDims = [| uint64 rows; 3UL; 4UL; 4UL |]))
            let problems = Validate.directory dir
            Expect.equal problems.Length 1 $"one problem: {problems}"
            Expect.stringContains problems.Head (features "train") "names train, the odd one"
            Expect.stringContains problems.Head $"feature maps are 3×4×4, the other splits' are {Render.channels}×4×4" "both shapes"
            // Two splits that disagree: neither is blamed, both are named.
            File.Delete(DatasetLayout.questionsFile dir "test")
            File.Delete(features "test")
            let problems = Validate.directory dir
            Expect.stringContains problems.Head (features "train") "names train"
            Expect.stringContains problems.Head (features "val") "names val"
        }
        test "NaN and Inf in features name the row" {
            let dir = temporaryDirectory ()
            let path = Path.Combine(dir, "nan.h5")
            let data = Array.zeroCreate<float32> (4 * 2 * 3 * 3)
            data[2 * 18 + 5] <- Single.NaN
            data[3 * 18] <- Single.PositiveInfinity
            writeFeatures path (H5Dataset<float32[]>((data: float32[]), fileDims = [| 4UL; 2UL; 3UL; 3UL |]))
            match Features.openHdf5 path with
            | Error e -> failtest (DataError.describe e)
            | Ok f ->
                use _ = f
                Expect.equal (f.Read [| 0; 1 |]).Length 36 "clean rows read"
                let line (rows: int[]) = match DataError.catch path (fun () -> f.Read rows) with Error e -> DataError.describe e | Ok _ -> "read"
                Expect.stringContains (line [| 1; 2 |]) "row 2: NaN" "NaN"
                Expect.stringContains (line [| 3 |]) "row 3: Inf" "Inf"
        }
        // The file's reader is the independent truth: the rows held in memory must be its rows.
        test "features held in memory read as the file does; over the limit the file is read; a NaN stops the first read" {
            let dir = temporaryDirectory ()
            let path = Path.Combine(dir, "rows.h5")
            let data = Array.init (5 * 2 * 3 * 3) (fun i -> float32 i * 0.5f)
            writeFeatures path (H5Dataset<float32[]>((data: float32[]), fileDims = [| 5UL; 2UL; 3UL; 3UL |]))
            let opened () = match Features.openHdf5 path with Ok f -> f | Error e -> failtest (DataError.describe e)
            use file = opened ()
            let held = Features.inMemoryUpTo (5L * 18L * 4L) (opened ())
            use _ = held
            for rows in [ [| 4; 0; 2 |]; [| 1; 1 |]; [| 3 |] ] do
                Expect.equal (held.Read rows) (file.Read rows) $"rows {rows}"
            Expect.equal (held.Read [| 2 |]) data[36 .. 53] "row 2 by hand"
            let tooSmall = opened ()
            use _ = tooSmall
            Expect.isTrue (obj.ReferenceEquals(Features.inMemoryUpTo (5L * 18L * 4L - 1L) tooSmall, tooSmall)) "one byte over: the file itself"
            data[4 * 18 + 3] <- Single.NaN
            let bad = Path.Combine(dir, "bad.h5")
            writeFeatures bad (H5Dataset<float32[]>((data: float32[]), fileDims = [| 5UL; 2UL; 3UL; 3UL |]))
            match Features.openHdf5 bad with
            | Error e -> failtest (DataError.describe e)
            | Ok f ->
                use inMemory = Features.inMemoryUpTo Features.inMemoryLimit f
                match DataError.catch bad (fun () -> inMemory.Read [| 0 |]) with
                | Error e -> Expect.stringContains (DataError.describe e) "row 4: NaN" "the bad row, though row 0 was asked for"
                | Ok _ -> failtest "read"
        }
        test "validate reports NaN in a dataset's features" {
            let dir = copyOfGenerated ()
            let path = (DatasetLayout.featureCandidates dir "val").Head
            let g = BuiltInOptions.defaults.GridSize
            let data = Array.create (60 * Render.channels * g * g) 0.0f
            data[7 * Render.channels * g * g + 1] <- Single.NaN
            File.Delete path
            writeFeatures path (H5Dataset<float32[]>((data: float32[]), fileDims = [| 60UL; uint64 Render.channels; uint64 g; uint64 g |]))
            match Validate.directory dir with
            | [ problem ] -> Expect.stringContains problem "row 7: NaN" "one problem naming the row"
            | problems -> failtestf "%A" problems
        }
        test "validate re-executes programs: a hand-corrupted answer is one line naming the file and question" {
            let dir = copyOfGenerated ()
            let path = DatasetLayout.questionsFile dir "val"
            let questions = ClevrJson.readQuestions path |> Array.ofSeq
            let k = questions |> Array.findIndexBack (fun q -> q.Answer = Some "yes")
            let scene = questions[k].ImageIndex
            ClevrJson.writeQuestions path "val" (questions |> Array.mapi (fun i q -> if i = k then { q with Answer = Some "no" } else q))
            Expect.equal (Validate.directory dir) [ $"{path}: question {k}: program gives 'yes' on scene {scene}, the answer is 'no'" ] "the one mismatch"
            // A scene gone from the scenes file is named too.
            let scenesPath = DatasetLayout.scenesFile dir "val"
            ClevrJson.writeScenes scenesPath "val" (ClevrJson.readScenes scenesPath |> Seq.filter (fun s -> s.ImageIndex <> questions[0].ImageIndex) |> Array.ofSeq)
            Expect.equal (Validate.directory dir) [ $"{path}: question 0: no scene with image index {questions[0].ImageIndex} in the scenes file" ] "missing scene"
        }
        test ".npy directory reads like HDF5" {
            let dir = temporaryDirectory ()
            let rows = [| for r in 0..2 -> Array.init (3 * 2 * 2) (fun i -> float32 (r * 100 + i)) |]
            rows |> Array.iteri (fun r x -> Features.writeNpy (Path.Combine(dir, $"CLEVR_val_{r:D6}.npy")) 3 2 2 x)
            match Features.openNpyDirectory dir with
            | Error e -> failtest (DataError.describe e)
            | Ok f -> Expect.equal (f.Read [| 2; 0 |]) (Array.append rows[2] rows[0]) "C×H×W, in order"
        }
    ]

[<Tests>]
let dataTests =
    testList "data" [
        DataTests.executorTests
        DataTests.tokenizerTests
        DataGenerationTests.generationTests
        DataGenerationTests.batchingTests
        DataBalanceTests.balanceTests
        DataFamilyTests.familyTests
        DataHumansTests.humansTests
        badInputTests
    ]
