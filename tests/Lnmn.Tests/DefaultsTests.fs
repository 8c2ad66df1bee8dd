/// The one function from a run's options to its (ModelSpec, TrainingSpec), against the specs the
/// main job was trained with, and the options compare gives each of its models.
module Lnmn.Tests.DefaultsTests

open System.IO
open Expecto
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Training
open Lnmn.Core.Training.TrainingSpec
open Lnmn.Train
open Lnmn.Train.Configs
open Lnmn.Tests.TestUtil

/// The main job's data as its run folder describes it: 28 answers, 68 tokens, 16×4×4 features
/// (spec.json's Dims) and 450,000 training questions (config.json's TrainExamples).
let private builtInData: Defaults.DataFacts =
    { BuiltIn = true; Vqa = false; Answers = 28; Words = 68; Channels = 16; Height = 4; Width = 4; TrainExamples = 450_000 }

/// spec.json and config.json's Training of the main job (`lnmn-train --ablation 11 --threads 1
/// --max-steps 40 --eval-every 20`), written by lnmn-train built from fb3b88c, before the defaults
/// moved; spec.json's widths since set to the small size's 64 (issue 10).
let private fixture name = File.ReadAllText(Path.Combine(repositoryRoot (), "tests", "Lnmn.Tests", "fixtures", name))

[<Tests>]
let tests =
    testList "defaults" [
        test "the built-in defaults make the main job's ModelSpec and TrainingSpec, as its run folder recorded them" {
            let spec, training = Defaults.specs Defaults.train builtInData
            Expect.equal spec (SpecJson.deserialize<ModelSpec> (fixture "main-job-spec.json")) "spec.json"
            Expect.equal training (SpecJson.deserialize<TrainingSpec> (fixture "main-job-training.json")) "config.json's Training"
        }
        test "on CLEVR, Stack-NMN gets the paper's size, hard pointer, sum pooling, lr 1e-4, 30 epochs and λ_w" {
            let clevr = { builtInData with BuiltIn = false; Words = 90; Channels = 1024; Height = 14; Width = 14; TrainExamples = 629_991 }
            let spec, training = Defaults.specs { Defaults.train with Model = StackNmn } clevr
            Expect.equal spec.Dims { ModelDims.paper 28 90 with InputChannels = 1024; GridHeight = 14; GridWidth = 14 } "384 wide, T = L = 5"
            Expect.equal spec.Modules (ModelSpec.stackNmn spec.Dims).Modules "Stack-NMN's modules"
            Expect.equal (spec.Pointer, spec.AnswerPooling, spec.Stack, spec.Initialisation) (Some Hard, Some SpatialSum, Reference, Some AuthorsCode) "its own pointer, the paper's cell"
            Expect.equal (training.Epochs, training.Weights.LearningRate, training.LambdaWScale) (30, 1e-4, None) "the paper's schedule"
            // 9,844 batches × 30 epochs, half of them with an α step: 8 / 147,660 is below the paper's 3e-4.
            Expect.equal (training.Alpha.LearningRate, training.AlphaWarmup) (3e-4, Some 0.5) "scaled α: the paper's lr, half the run warm-up"
        }
        test "--map-dim and --size decide the width; otherwise the data does" {
            Expect.equal (Defaults.mapDim Defaults.train true, Defaults.mapDim Defaults.train false) (32, 384) "built-in small, CLEVR the paper's"
            Expect.equal (Defaults.mapDim { Defaults.train with PaperSize = Some true } true) 384 "--size paper"
            Expect.equal (Defaults.mapDim { Defaults.train with MapDim = Some 21 } false) 21 "--map-dim"
        }
        test "--width sets the embedding, LSTM, kb and memory widths at either size, and nothing else" {
            let dims config builtIn = (fst (Defaults.specs config { builtInData with BuiltIn = builtIn })).Dims
            for builtIn in [ true; false ] do
                let plain, wide = dims Defaults.train builtIn, dims { Defaults.train with Width = Some 48 } builtIn
                Expect.equal wide { plain with EmbedDim = 48; LstmHidden = 48; KbDim = 48; MemDim = 48 } $"built-in {builtIn}"
                Expect.notEqual plain.KbDim 48 "the default differs"
        }
        test "compare gives each model the shared options changed by its variant, Table 2's width two thirds of the original" {
            let configs builtIn = Comparison.entries builtIn |> List.map (fun e -> e.Key, e.Variant Defaults.train) |> Map.ofList
            let builtIn, clevr = configs true, configs false
            Expect.equal (Comparison.entries true |> List.map (fun e -> e.Key))
                [ "stack-nmn"; "stack-nmn-soft"; "lnmn-9"; "lnmn-11"; "lnmn-14"; "lnmn-11-push"; "lnmn-11-t9"; "concat-11" ] "the paper's rows, in order"
            Expect.equal builtIn.["lnmn-11"] Defaults.train "LNMN-11 is the defaults"
            Expect.equal builtIn.["stack-nmn-soft"] { Defaults.train with Model = StackNmn; Pointer = Some(Soft 0.2) } "Stack-NMN, soft pointer"
            Expect.equal builtIn.["lnmn-11-push"] { Defaults.train with Stack = Push } "push stack"
            Expect.equal builtIn.["concat-11"] { Defaults.train with Model = ConcatCells } "concatenation cells"
            Expect.equal builtIn.["lnmn-9"].Ablation Ablation9 "9 modules"
            Expect.equal builtIn.["lnmn-11-t9"] { Defaults.train with Steps = 9; StackLength = 9; MapDim = Some 21 } "32 → 21"
            Expect.equal clevr.["lnmn-11-t9"].MapDim (Some 256) "384 → 256"
        }
    ]
