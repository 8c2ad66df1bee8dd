module Lnmn.Tests.RunLocationTests

open System
open System.IO
open System.Text.Json
open Expecto
open Lnmn.Core.Data
open Lnmn.Core.Training
open Lnmn.Train
open Lnmn.Tests.TestUtil

/// Every file and folder under `dir` with its size and modification time, sorted; `skip` leaves
/// out a top-level entry.
let private listing (dir: string) (skip: string list) =
    Directory.GetFileSystemEntries(dir, "*", SearchOption.AllDirectories)
    |> Array.map (fun p -> Path.GetRelativePath(dir, p), p)
    |> Array.filter (fun (relative, _) -> not (skip |> List.exists (fun s -> relative = s || relative.StartsWith(s + string Path.DirectorySeparatorChar))))
    |> Array.map (fun (relative, p) ->
        let info: FileSystemInfo = if Directory.Exists p then DirectoryInfo p else FileInfo p
        relative, (match info with :? FileInfo as f -> f.Length | _ -> -1L), info.LastWriteTimeUtc)
    |> Array.sort

let private environmentOf (pairs: (string * string) list) name = pairs |> List.tryFind (fst >> (=) name) |> Option.map snd

let private metadata (dir: string) (recipe: BuiltIn.Recipe option) : Checkpoint.Metadata =
    { Model = Lnmn.Core.Specs.ModelSpec.lnmn Lnmn.Core.Specs.Ablation9 NetworkTests.tinyDims
      Training = TrainingSpec.TrainingSpec.paper
      Words = []; Answers = []
      DataDirectory = Some dir; DataRecipe = recipe
      Progress = Checkpoint.Progress.start; Plan = None; RngState = "" }

[<Tests>]
let tests =
    testSequenced <| testList "run location" [
        test "the built-in cache is $LNMN_DATA, else $XDG_CACHE_HOME/lnmn, else ~/.cache/lnmn; one folder per generator version and options" {
            let home = Environment.GetFolderPath Environment.SpecialFolder.UserProfile
            Expect.equal (BuiltInCache.root (environmentOf [ "LNMN_DATA", "/d/x"; "XDG_CACHE_HOME", "/c" ])) "/d/x" "the variable first"
            Expect.equal (BuiltInCache.root (environmentOf [ "XDG_CACHE_HOME", "/c" ])) "/c/lnmn" "then XDG"
            Expect.equal (BuiltInCache.root (environmentOf [])) (Path.Combine(home, ".cache", "lnmn")) "then the home folder"
            Expect.isTrue (Path.IsPathFullyQualified(BuiltInCache.root (environmentOf [ "LNMN_DATA", "relative/dir" ]))) "absolute"
            let defaults = BuiltInCache.directory "/r" BuiltInOptions.defaults
            Expect.stringStarts defaults $"/r/builtin-v{BuiltIn.generatorVersion}-" "named by the generator version"
            Expect.equal (BuiltInCache.directory "/r" BuiltInOptions.defaults) defaults "the same options, the same folder"
            Expect.notEqual (BuiltInCache.directory "/r" { BuiltInOptions.defaults with Seed = 2 }) defaults "other options, another folder"
        }

        test "a checkpoint's data: its folder as it stands; gone, the built-in recipe it records; none recorded, the built-in default" {
            let here = TrainerTests.dataDir.Force()
            let gone = Path.Combine(here, "no-such-folder")
            let tiny = { BuiltInOptions.defaults with TrainScenes = 3 }
            Expect.equal (TrainingData.recorded (metadata here (Some(BuiltIn.recipe tiny)))) (TrainingData.DataDirectory here) "there: used as it is"
            Expect.equal (TrainingData.recorded (metadata gone (Some(BuiltIn.recipe tiny)))) (TrainingData.BuiltInData tiny) "gone: made again from its recipe"
            Expect.equal (TrainingData.recorded (metadata gone None)) (TrainingData.DataDirectory gone) "gone, not built-in: named as it was (loading says it is missing)"
            let older = { BuiltIn.recipe tiny with GeneratorVersion = BuiltIn.generatorVersion - 1 }
            Expect.equal (TrainingData.recorded (metadata gone (Some older))) (TrainingData.DataDirectory gone) "an older generator cannot make it again"
            Expect.equal (TrainingData.recorded { metadata here None with DataDirectory = None }) (TrainingData.BuiltInData BuiltInOptions.defaults) "older checkpoints"
            let json = Lnmn.Core.SpecJson.serialize (metadata here None)
            let withoutRecipe = (JsonDocument.Parse json).RootElement.EnumerateObject() |> Seq.filter (fun p -> p.Name <> "DataRecipe") |> Seq.map (fun p -> p.Name, p.Value) |> dict
            let older = Lnmn.Core.SpecJson.deserialize<Checkpoint.Metadata> (JsonSerializer.Serialize withoutRecipe)
            Expect.isNone older.DataRecipe "metadata written before DataRecipe still reads"
        }

        test "a dataset made again from the recipe its folder records is the same, byte for byte" {
            let first, second = TrainerTests.freshDir "recipe-a", TrainerTests.freshDir "recipe-b"
            BuiltIn.generate { BuiltInOptions.defaults with TrainScenes = 12; ValScenes = 4; QuestionsPerScene = 3; Seed = 9 } first
            let recipe = (BuiltIn.readRecipe first).Value
            Expect.equal recipe.GeneratorVersion BuiltIn.generatorVersion "the generator version is recorded"
            BuiltIn.generate recipe.Options second
            let files dir = Directory.GetFiles(dir, "*", SearchOption.AllDirectories) |> Array.map (fun f -> Path.GetRelativePath(dir, f)) |> Array.sort
            Expect.sequenceEqual (files second) (files first) "the same files"
            for f in files first do
                Expect.isTrue (File.ReadAllBytes(Path.Combine(first, f)) = File.ReadAllBytes(Path.Combine(second, f))) $"{f}: the same bytes"
        }

        test "a run trains on the built-in data in $LNMN_DATA and records it; eval and report started elsewhere neither regenerate nor change anything" {
            // The tiny test dataset put where the cache keeps the default built-in dataset.
            let cache = TrainerTests.freshDir "cache"
            let builtIn = BuiltInCache.directory cache BuiltInOptions.defaults
            copyDirectory (TrainerTests.dataDir.Force()) builtIn
            File.WriteAllText(DatasetLayout.builtInOptionsFile builtIn, BuiltIn.optionsJson BuiltInOptions.defaults)
            let started, elsewhere, otherCache = temporaryDirectory (), temporaryDirectory (), TrainerTests.freshDir "other-cache"
            let run = TrainerTests.freshDir "located-run"
            let code, _, err =
                TrainerTests.runCliIn started [ BuiltInCache.variable, cache ]
                    [ "--size"; "small"; "--map-dim"; "16"; "-T"; "2"; "--threads"; "2"; "--max-steps"; "2"; "--run-dir"; run ]
            Expect.equal code 0 $"trained ({err})"
            Expect.isEmpty (Directory.GetFileSystemEntries started) "nothing written where it was started (no data/builtin)"
            use config = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "config.json")))
            let record = config.RootElement.GetProperty("Recorded")
            Expect.equal (record.GetProperty("Data").GetString()) builtIn "config.json: the absolute dataset folder"
            Expect.equal (record.GetProperty("DataRecipe").GetProperty("GeneratorVersion").GetInt32()) BuiltIn.generatorVersion "config.json: the recipe"
            Expect.equal (record.GetProperty("GitCommit").GetString()) BuildInfo.gitCommit "config.json: the commit stamped into the build"
            let checkpoint = Path.Combine(run, "checkpoints", "last.ckpt")
            let recorded = Checkpoint.readMetadata checkpoint |> Result.defaultWith failtest
            Expect.equal recorded.DataDirectory (Some builtIn) "the checkpoint names the folder"
            Expect.equal (recorded.DataRecipe |> Option.map (fun r -> r.Options)) (Some BuiltInOptions.defaults) "and the recipe"
            let data, runFolder = listing builtIn [], listing run [ "report" ]
            // Elsewhere, with the cache variable pointing at an empty place: only the record can find the data.
            let cli args = TrainerTests.runCliIn elsewhere [ BuiltInCache.variable, otherCache ] args
            let code, out, err = cli [ "eval"; "--checkpoint"; checkpoint; "--threads"; "2" ]
            Expect.equal code 0 $"eval ({err})"
            Expect.stringContains out builtIn "eval names the recorded data"
            let code, _, err = cli [ "report"; run; "--questions"; "10"; "--pictures"; "0"; "--ig-steps"; "1"; "--threads"; "2" ]
            Expect.equal code 0 $"report ({err})"
            Expect.isTrue (File.Exists(Path.Combine(run, "report", "index.html"))) "the report is in the run folder"
            Expect.isFalse (Path.Exists otherCache) "nothing generated in the cache"
            Expect.isEmpty (Directory.GetFileSystemEntries elsewhere) "nothing written where they were started"
            Expect.sequenceEqual (listing builtIn []) data "the dataset unchanged (files, sizes, times)"
            Expect.sequenceEqual (listing run [ "report" ]) runFolder "the run folder unchanged but for its report"
        }
    ]
