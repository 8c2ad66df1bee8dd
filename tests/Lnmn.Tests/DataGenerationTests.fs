module Lnmn.Tests.DataGenerationTests

open System
open System.IO
open Expecto
open Lnmn.Core.Data
open Lnmn.Core.Data.Clevr

let smallOptions = { BuiltInOptions.defaults with TrainScenes = 300; ValScenes = 60; QuestionsPerScene = 5 }

let private temporaryDirectory () = Path.Combine(Path.GetTempPath(), $"lnmn-data-{Guid.NewGuid():N}")

/// One generated dataset shared by the tests that only read it.
let generated =
    lazy
        (let dir = temporaryDirectory ()
         BuiltIn.generate smallOptions dir
         dir)

let private bytesOf (dir: string) =
    Directory.GetFiles(dir, "*", SearchOption.AllDirectories) |> Array.sort |> Array.map (fun f -> Path.GetRelativePath(dir, f), File.ReadAllBytes f)

let generationTests =
    testList "built-in dataset" [
        test "every question's program re-executes to its answer on the scene read back" {
            let dir = generated.Force()
            for split in [ "train"; "val" ] do
                let scenes = ClevrJson.readScenes (DatasetLayout.scenesFile dir split) |> Array.ofSeq
                let questions = ClevrJson.readQuestions (DatasetLayout.questionsFile dir split) |> Array.ofSeq
                Expect.isGreaterThan questions.Length (3 * scenes.Length) "questions per scene"
                for q in questions do
                    Expect.equal (Scenes.answer scenes[q.ImageIndex] q.Program.Value) (Ok q.Answer.Value) q.Text
        }
        test "all 5 categories, all 9 template groups; answers balanced per family" {
            let questions = ClevrJson.readQuestions (DatasetLayout.questionsFile (generated.Force()) "train") |> Array.ofSeq
            let categories = questions |> Array.choose (fun q -> category q.Program.Value) |> Array.distinct
            Expect.equal (set categories) (set Category.all) "categories"
            let groupOf i = (Templates.all |> List.find (fun f -> f.Index = i)).Group
            let groups = questions |> Array.map (fun q -> groupOf q.FamilyIndex.Value) |> Array.distinct
            Expect.equal (set groups) (set TemplateGroup.all) "groups"
            Expect.equal (questions |> Array.map (fun q -> q.FamilyIndex.Value) |> Array.distinct |> Array.length) Templates.all.Length "every family"
            // Balance: most frequent answer of a family / mean answer count ≤ tolerance + slack, on an
            // 8×8 grid. On the default 4×4 grid small count families are looser ('0' is common; the
            // full default set's worst family is 1.67, `lnmn-train validate` on it).
            let eightByEight = temporaryDirectory ()
            BuiltIn.generate { smallOptions with GridSize = 8 } eightByEight
            let questions = ClevrJson.readQuestions (DatasetLayout.questionsFile eightByEight "train") |> Array.ofSeq
            for family, qs in questions |> Array.groupBy (fun q -> q.FamilyIndex.Value) do
                let counts = qs |> Array.countBy (fun q -> q.Answer.Value) |> Array.map snd
                let ratio = float (Array.max counts) / Array.averageBy float counts
                // The balancer bounds a count by the mean over the answers seen when it accepts one;
                // answers first seen later lower the final mean, hence slack beyond its + 2.
                Expect.isLessThanOrEqual (float (Array.max counts)) (smallOptions.BalanceTolerance * Array.averageBy float counts + 4.0) $"family {family} ratio {ratio}"
        }
        test "a split is generated in seeded chunks: its first scenes and questions do not depend on its length" {
            let options = { smallOptions with QuestionsPerScene = 3 }
            let shortScenes, shortQuestions = BuiltIn.generateSplit options "train" 700
            let longScenes, longQuestions = BuiltIn.generateSplit options "train" 1200
            Expect.equal shortScenes (Array.take 700 longScenes) "scenes: chunk 0 whole, chunk 1 cut short"
            Expect.equal shortQuestions (Array.take shortQuestions.Length longQuestions) "questions"
            Expect.equal (BuiltIn.generateSplit options "train" 700) (shortScenes, shortQuestions) "again: the same"
        }
        test "the default main job sees each question once: one epoch over a split of scenes × questions per scene" {
            Expect.equal Lnmn.Train.Defaults.builtInEpochs 1 "one epoch"
            let dir = generated.Force()
            let questions = ClevrJson.readQuestions (DatasetLayout.questionsFile dir "train") |> Seq.length
            let asked = smallOptions.TrainScenes * smallOptions.QuestionsPerScene
            Expect.isGreaterThanOrEqual (float questions) (0.98 * float asked) $"{questions} of {asked} questions asked"
            let distinct = ClevrJson.readQuestions (DatasetLayout.questionsFile dir "train") |> Seq.distinctBy (fun q -> q.ImageIndex, q.Text) |> Seq.length
            Expect.equal distinct questions "no question twice"
            Expect.isGreaterThanOrEqual (BuiltInOptions.defaults.TrainScenes * BuiltInOptions.defaults.QuestionsPerScene) 450_000 "the default split"
        }
        test "scenes carry CLEVR's directions: right = +x, front = +y, six unit vectors" {
            use doc = System.Text.Json.JsonDocument.Parse(System.IO.File.ReadAllText(DatasetLayout.scenesFile (generated.Force()) "val"))
            let directions = doc.RootElement.GetProperty("scenes").[0].GetProperty("directions")
            let vector (name: string) = [ for x in directions.GetProperty(name).EnumerateArray() -> x.GetDouble() ]
            Expect.equal (vector "right") [ 1.0; 0.0; 0.0 ] "right"
            Expect.equal (vector "front") [ 0.0; 1.0; 0.0 ] "front"
            Expect.equal (vector "below") [ 0.0; 0.0; -1.0 ] "below"
            Expect.equal (directions.EnumerateObject() |> Seq.length) 6 "six"
        }
        test "features are the rendered scenes, read in the requested order" {
            let dir = generated.Force()
            let scenes = ClevrJson.readScenes (DatasetLayout.scenesFile dir "val") |> Array.ofSeq
            match Dataset.openFeatures dir "val" with
            | Error e -> failtest (DataError.describe e)
            | Ok features ->
                use _ = features
                Expect.equal (features.Count, features.Channels, features.Height, features.Width) (scenes.Length, Render.channels, smallOptions.GridSize, smallOptions.GridSize) "shape"
                let size = Features.imageSize features
                let batch = features.Read [| 5; 2; 3 |]
                for b, row in [ 0, 5; 1, 2; 2, 3 ] do
                    Expect.equal batch[b * size .. (b + 1) * size - 1] (Render.render smallOptions.GridSize smallOptions.FeatureIntensity scenes[row]) $"row {row}"
        }
        test "the feature intensity scales every rendered value and nothing else" {
            let one = Render.render 8 1.0 DataTests.handScene
            let five = Render.render 8 5.0 DataTests.handScene
            Expect.isGreaterThan (Array.max one) 0.0f "something is drawn"
            Expect.sequenceEqual (five |> Array.map (fun v -> MathF.Round(v, 5))) (one |> Array.map (fun v -> MathF.Round(v * 5.0f, 5))) "five times the unit map"
        }
        test "rendering puts each object's attributes at its cell" {
            let scene = DataTests.handScene
            let map = Render.render 8 1.0 scene
            let at channel (x: float) (y: float) =
                let column, row = SceneGen.cellOf 8 x y
                map[(channel * 8 + row) * 8 + column]
            let channel name = List.findIndex ((=) name) Render.channelNames
            Expect.isGreaterThan (at (channel "color=red") -2.0 0.0) 0.5f "red cube"
            Expect.equal (at (channel "color=blue") -2.0 0.0) 0.0f "no blue at the cube"
            Expect.isGreaterThan (at (channel "shape=sphere") 0.0 1.0) 0.3f "sphere"
            Expect.isGreaterThan (at (channel "size=large") 2.0 -1.0) 0.5f "large cylinder"
        }
        test "same seed gives byte-identical files; ensure regenerates only for other options" {
            let options = { smallOptions with TrainScenes = 30; ValScenes = 10 }
            let a, b = temporaryDirectory (), temporaryDirectory ()
            BuiltIn.generate options a
            BuiltIn.generate options b
            Expect.equal (bytesOf a) (bytesOf b) "identical"
            Expect.isFalse (BuiltIn.ensure options a) "same options: kept"
            Expect.isTrue (BuiltIn.ensure { options with Seed = 2 } a) "other options: regenerated"
            Expect.notEqual (bytesOf a) (bytesOf b) "other seed, other data"
            Directory.Delete(a, true)
            Directory.Delete(b, true)
        }
        test "restricting groups restricts families" {
            let options = { smallOptions with Groups = [ ZeroHop; CompareInteger ] }
            Expect.equal (BuiltIn.families options |> List.map (fun f -> f.Group) |> List.distinct) [ ZeroHop; CompareInteger ] "groups"
        }
        test "generate --groups reads CLEVR's group names and refuses an unknown one by name" {
            Expect.equal (Lnmn.Train.Options.templateGroups "zero_hop, one_hop,zero_hop") (Ok [ ZeroHop; OneHop ]) "names, spaces, repeats"
            match Lnmn.Train.Options.templateGroups "zero_hop,four_hop" with
            | Error e -> Expect.stringContains e "'four_hop'" "names the unknown group"
            | Ok gs -> failtest $"accepted {gs}"
            Expect.isError (Lnmn.Train.Options.templateGroups ",") "no group at all"
        }
        test "loadDataset encodes every question; validate finds nothing wrong" {
            let dir = generated.Force()
            match Dataset.loadDataset dir with
            | Error e -> failtest (DataError.describe e)
            | Ok d ->
                use _ = d
                let count split = ClevrJson.readQuestions (DatasetLayout.questionsFile dir split) |> Seq.length
                Expect.equal d.Train.Examples.Length (count "train") "train"
                Expect.equal d.Val.Examples.Length (count "val") "val"
                Expect.isTrue (d.Train.Examples |> Array.forall (fun e -> e.Answer >= 0 && e.Category.IsSome && e.Tokens |> Array.forall (fun t -> t > 1))) "encoded, no UNK in train"
            Expect.equal (Validate.directory dir) [] "no problems"
            match Validate.balanceReport dir with
            | [ train; value ] ->
                Expect.stringStarts train $"train: answer balance (max/mean per family) over {Templates.all.Length} families: worst " "train line"
                Expect.stringStarts value "val: answer balance" "val line"
            | lines -> failtestf "%A" lines
        }
    ]

let batchingTests =
    testList "batching" [
        let examples n = Array.init n (fun i -> ({ Tokens = Array.create (1 + i % 4) (i + 2); Answer = i % 28; ImageIndex = i; Category = None; LastFunction = None; QuestionIndex = i; Vqa = None }: Batching.Example))
        test "the architecture split: disjoint from train, together covering it" {
            let train = examples 100
            let kept, architecture = Batching.splitArchitecture 7 0.1 train
            Expect.equal architecture.Length 10 "architecture size"
            let ids (xs: Batching.Example[]) = xs |> Array.map (fun e -> e.QuestionIndex) |> Set.ofArray
            Expect.isEmpty (Set.intersect (ids kept) (ids architecture)) "disjoint"
            Expect.equal (Set.union (ids kept) (ids architecture)) (ids train) "cover train"
        }
        test "batches: a seeded permutation per epoch" {
            let b = Batching.batches 3 0 8 50
            Expect.equal (b |> Array.concat |> Array.sort) [| 0..49 |] "permutation"
            Expect.equal b (Batching.batches 3 0 8 50) "deterministic"
            Expect.notEqual b (Batching.batches 3 1 8 50) "other epoch, other order"
            Expect.equal (b |> Array.map Array.length |> Array.last) 2 "last batch shorter"
        }
        test "padding with lengths" {
            let p = Batching.pad (examples 4) [| 3; 0 |]
            Expect.equal p.MaxLength 4 "max length"
            Expect.equal p.Lengths [| 4L; 1L |] "lengths"
            Expect.equal p.Tokens [| 5L; 5L; 5L; 5L; 2L; 0L; 0L; 0L |] "tokens, padded with 0"
            Expect.equal p.ImageIndices [| 3; 0 |] "images"
        }
    ]
