module Lnmn.Tests.ExportTests

open System.IO
open Expecto
open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Core.Training
open Lnmn.Train
open Lnmn.Tests.TestUtil

/// A short LNMN-11 run's checkpoint, trained once for the tests below.
let trainedCheckpoint =
    lazy
        (let run = TrainerTests.freshDir "export-run"
         TrainerTests.train run [ "--max-steps"; "2" ] |> ignore
         Path.Combine(run, "checkpoints", "last.ckpt"))

/// The network a checkpoint holds.
let loadNetwork (checkpoint: string) =
    let metadata = Checkpoint.readMetadata checkpoint |> Result.defaultWith failtest
    let network = LnmnNetwork.compile metadata.Model
    Checkpoint.load checkpoint (Steps.createState metadata.Training network) |> Result.defaultWith failtest |> ignore
    network

let private expectOneLineNaming (path: string) (result: Result<_, string>) =
    match result with
    | Ok _ -> failtestf "%s: expected an error" path
    | Error (e: string) ->
        Expect.stringContains e path "names the file"
        Expect.isFalse (e.Contains '\n') "one line"

[<Tests>]
let tests =
    testSequenced <| testList "export" [
        test "exported names cover every parameter once, cells named by kind, and match docs/weights.md" {
            let network = LnmnNetwork.compile (ModelSpec.lnmn Ablation11 NetworkTests.tinyDims)
            let exported = ParameterNames.export network |> Result.defaultWith failtest
            let total = network.parameters() |> Seq.sumBy (fun p -> p.numel())
            Expect.equal (exported |> List.sumBy (fun (_, t) -> t.numel())) total "every parameter element exported once"
            Expect.equal (exported |> List.map fst |> List.distinct).Length exported.Length "names are distinct"
            Expect.equal (exported |> List.filter (fun (n, _) -> n.StartsWith "cells.") |> List.map fst |> List.filter (fun n -> n.EndsWith ".alpha"))
                [ "cells.attention_3in.alpha"; "cells.attention_4in.alpha"; "cells.answer_3in.alpha"; "cells.answer_4in.alpha" ] "α per kind"
            let doc = File.ReadAllText(Path.Combine(repositoryRoot (), "docs", "weights.md"))
            for name, _ in exported do
                let documented = if name.StartsWith "cells." then name.Replace("attention_3in", "KIND").Replace("attention_4in", "KIND").Replace("answer_3in", "KIND").Replace("answer_4in", "KIND") else name
                Expect.stringContains doc $"`{documented}`" $"{name} is documented"
        }

        test "export then import gives identical logits, module weights and pointers (safetensors and pytorch)" {
            use _ = torch.NewDisposeScope()
            let checkpoint = trainedCheckpoint.Force()
            let original = loadNetwork checkpoint
            let batch = NetworkTests.randomBatch 7L 5 6 original.Spec.Dims
            let expected = original.Forward(batch, NodeOps.NodeEvaluation.soft)
            let dir = temporaryDirectory ()
            for format, file in [ Configs.Safetensors, "w.safetensors"; Configs.PyTorch, "w.pt" ] do
                let weights = Path.Combine(dir, file)
                Exported.export checkpoint format weights |> Result.defaultWith failtest |> ignore
                Expect.isTrue (File.Exists(Path.Combine(dir, "w.spec.json"))) "the spec is written beside"
                let back = Path.Combine(dir, $"{file}.ckpt")
                Exported.import weights back |> Result.defaultWith failtest |> ignore
                let actual = (loadNetwork back).Forward(batch, NodeOps.NodeEvaluation.soft)
                expectAllClose 0.0 actual.Logits expected.Logits $"{format}: logits identical"
                expectAllClose 0.0 actual.ModuleWeights expected.ModuleWeights $"{format}: module weights identical"
                expectAllClose 0.0 actual.Pointers expected.Pointers $"{format}: pointers identical"
            Expect.isEmpty (Directory.GetFiles(dir, "*.partial")) "no temporary file left"
            Directory.Delete(dir, true)
        }

        test "user errors: one line naming the file, non-zero exit, nothing written" {
            let dir = temporaryDirectory ()
            let at name = Path.Combine(dir, name)
            expectOneLineNaming (at "missing.ckpt") (Exported.export (at "missing.ckpt") Configs.Safetensors (at "w.safetensors"))
            expectOneLineNaming (at "no-dir") (Exported.export (trainedCheckpoint.Force()) Configs.Safetensors (Path.Combine(at "no-dir", "w.safetensors")))
            Exported.export (trainedCheckpoint.Force()) Configs.Safetensors (at "good.safetensors") |> Result.defaultWith failtest |> ignore
            File.WriteAllBytes(at "garbage.safetensors", Array.init 64 byte)
            File.Copy(at "good.spec.json", at "garbage.spec.json")
            expectOneLineNaming (at "garbage.safetensors") (Exported.import (at "garbage.safetensors") (at "a.ckpt"))
            File.Copy(at "good.safetensors", at "alone.safetensors")
            expectOneLineNaming (at "alone.safetensors") (Exported.import (at "alone.safetensors") (at "b.ckpt"))
            File.WriteAllText(at "c.ckpt", "")
            expectOneLineNaming (at "c.ckpt") (Exported.import (at "good.safetensors") (at "c.ckpt"))
            let code, _, err = TrainerTests.runCli [ "export"; at "missing.ckpt"; "--out"; at "x.safetensors" ]
            Expect.notEqual code 0 "non-zero exit"
            Expect.equal (err.Trim().Split('\n').Length) 1 "one line on stderr"
            let code, _, err = TrainerTests.runCli [ "export"; trainedCheckpoint.Force(); "--format"; "onnx"; "--out"; at "x.onnx" ]
            Expect.notEqual code 0 "an unknown format is refused"
            Expect.stringContains err "onnx" "names the format"
            Expect.equal (Directory.GetFiles dir |> Array.map Path.GetFileName |> Array.sort)
                [| "alone.safetensors"; "c.ckpt"; "garbage.safetensors"; "garbage.spec.json"; "good.safetensors"; "good.spec.json" |] "nothing else written"
            Directory.Delete(dir, true)
        }
    ]
