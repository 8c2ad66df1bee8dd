module Lnmn.Tests.GenotypeTests

open System.IO
open Expecto
open Argu
open TorchSharp
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Analysis
open Lnmn.Train
open Lnmn.Tests.TestUtil

/// A network of `spec` with α[cell, node, op] = `alpha` (group kind, cell, node, op) in every group.
let private withAlpha (spec: ModelSpec) (alpha: CellKind -> int -> int -> int -> float) =
    let net = LnmnNetwork.compile spec
    use _ = torch.no_grad ()
    for group in net.CellGroups do
        let nodes = CellKind.nodeCount group.Kind
        let values = [ for cell in 0 .. group.Count - 1 do for node in 0 .. nodes - 1 do for op in 0 .. 5 -> alpha group.Kind cell node op ]
        group.Alpha.copy_(tensorOf group.Alpha.shape values) |> ignore
    net

let private softmaxes (net: LnmnNetwork.LnmnNetwork) = net.CellGroups |> List.map (fun g -> values (g.Alpha.softmax(-1L)))

let private alphas (net: LnmnNetwork.LnmnNetwork) = net.CellGroups |> List.map (fun g -> values g.Alpha)

let private tinyWith preset = { NetworkTests.tinySpec Ablation11 Reference with AlphaPreset = Some preset }

let private ok (r: Result<'T, string>) = match r with Ok x -> x | Error e -> failtestf "unexpected error: %s" e

let private errorOf (r: Result<'T, string>) = match r with Error e -> e | Ok _ -> failtest "expected an error"

let private config (args: string list) =
    ArgumentParser.Create<Options.TrainArgs>(programName = "lnmn-train").ParseCommandLine(Array.ofList args) |> Options.toConfig

[<Tests>]
let tests =
    testList "genotype" [
        test "genotype: network α → genotype → JSON → genotype → α keeps softmax(α) of every node" {
            let spec = NetworkTests.tinySpec Ablation11 Reference
            // Distinct, uneven values: node weights far from uniform and different per cell and kind.
            let kindOffset (k: CellKind) = float (List.findIndex ((=) k) CellKind.all)
            use source = withAlpha spec (fun k cell node op -> 0.7 * float ((op * (cell + 2) + node + int (kindOffset k)) % 6) - 0.4 * float op + 0.1 * kindOffset k)
            let genotype = AlphaReadout.genotype source
            let read = Genotype.ofJson (Genotype.toJson genotype) |> ok
            Expect.equal read genotype "the file reads back as written"
            use rebuilt = LnmnNetwork.compile { spec with AlphaPreset = Some(Written read) }
            List.iter2 (fun a e -> expectClose 1e-6 (torch.tensor (a: float[])) e "softmax(α) per node") (softmaxes rebuilt) (softmaxes source)
            // The rebuilt α is log w − min log w: each node's least-weighted op at 0.
            for g in alphas rebuilt do
                for node in Array.chunkBySize 6 g do Expect.floatClose Accuracy.high (Array.min node) 0.0 "lightest op at 0"
        }
        test "genotype: each node's op is the argmax of a hand-set α, written by name" {
            // Attention 3-in cells: node 0 favours product, node 1 choose_2; answer 4-in: choose_1, sum, max.
            let favoured (k: CellKind) node =
                match k.Role, k.Arity with
                | Attention, ThreeInput -> [ Product; Choose2 ].[node]
                | Answer, FourInput -> [ Choose1; Sum; Max ].[node]
                | _ -> Min
            use net = withAlpha (NetworkTests.tinySpec Ablation11 Reference) (fun k _ node op -> if NodeOp.all.[op] = favoured k node then 2.0 else 0.5)
            let genotype = AlphaReadout.genotype net
            let opsOf i = (Genotype.cell genotype i).Nodes |> List.map (fun n -> n.Op)
            // LNMN-11: modules 0–3 attention 3-in, 4–5 attention 4-in, 6–7 answer 3-in, 8–9 answer 4-in, 10 NoOp.
            Expect.equal (opsOf 0) [ Product; Choose2 ] "module 0"
            Expect.equal (opsOf 9) [ Choose1; Sum; Max ] "module 9"
            Expect.equal (opsOf 5) [ Min; Min; Min ] "module 5"
            Expect.equal (genotype.Cells |> List.map (fun c -> c.Module)) [ 0 .. 9 ] "one cell per generic module, NoOp has none"
            // softmax of (2, 0.5 × 5): e^2 / (e^2 + 5 e^0.5).
            Expect.floatClose Accuracy.medium (Genotype.cell genotype 0).Nodes.[0].Weights.[NodeOp.index Product] (exp 2.0 / (exp 2.0 + 5.0 * exp 0.5)) "the winner's weight"
            let json = Genotype.toJson genotype
            let file = System.Text.Json.JsonDocument.Parse(json).RootElement
            let strings (e: System.Text.Json.JsonElement) = [ for x in e.EnumerateArray() -> x.GetString() ]
            Expect.equal (strings (file.GetProperty "Ops")) [ "min"; "max"; "sum"; "product"; "choose_1"; "choose_2" ] "the weights' order, by name"
            let cell9 = file.GetProperty("Cells").[9]
            Expect.equal (cell9.GetProperty("Kind").GetString()) "answer-4in" "kind by name"
            Expect.equal [ for n in cell9.GetProperty("Nodes").EnumerateArray() -> n.GetProperty("Op").GetString() ] [ "choose_1"; "sum"; "max" ] "ops by name"
            Expect.equal (List.last (strings (file.GetProperty "Modules"))) "NoOp" "the module list the cells belong to"
        }
        test "genotype: table6 and find written as genotype files give the built-in presets' α" {
            let modules = (NetworkTests.tinySpec Ablation11 Reference).Modules
            for preset in [ PaperTable6; FindAttention ] do
                let file = Genotype.toJson (Genotype.ofPreset preset modules)
                use builtIn = LnmnNetwork.compile (tinyWith preset)
                use written = LnmnNetwork.compile (tinyWith (Written(Genotype.ofJson file |> ok)))
                List.iter2 (fun a e -> expectClose 1e-5 (torch.tensor (a: float[])) e $"{preset}: α") (alphas written) (alphas builtIn)
            // Table 6's first 3-input attention cell is conv(choose_2(min(I, a), c)): α exactly 10 at min, then at
            // choose_2, 0 elsewhere, as the presets set it before they were genotypes.
            use table6 = LnmnNetwork.compile (tinyWith PaperTable6)
            Expect.equal (values (table6.CellGroups.[0].Alpha.[0L])) [| 10.; 0.; 0.; 0.; 0.; 0.; 0.; 0.; 0.; 0.; 0.; 10. |] "module 0"
        }
        test "genotype: moved counts the nodes whose op differs, out of all nodes" {
            let table6 = Genotype.ofPreset PaperTable6 (NetworkTests.tinySpec Ablation11 Reference).Modules
            Expect.equal (Genotype.moved table6 table6) (0, 24) "none of 24 against itself"
            let changed =
                { table6 with
                    Cells =
                        table6.Cells |> List.mapi (fun i c ->
                            if i <> 3 then c
                            else { c with Nodes = c.Nodes |> List.mapi (fun j n -> if j = 1 then { n with Op = (if n.Op = Max then Min else Max) } else n) }) }
            Expect.equal (Genotype.moved table6 changed) (1, 24) "one node of the fourth cell"
        }
        test "genotype: one that does not fit the model is refused, saying what differs" {
            let eleven = Genotype.ofPreset PaperTable6 (Ablation.modules Ablation11)
            let refusal modules genotype = Genotype.check modules genotype |> errorOf
            Expect.stringContains (refusal (Ablation.modules Ablation9) eleven) "the file has 11 modules" "module count"
            let swapped = { eleven with Modules = Ablation.modules Ablation11 |> List.mapi (fun i m -> if i = 4 then Generic { Role = Attention; Arity = ThreeInput } else m) }
            Expect.stringContains (refusal (Ablation.modules Ablation11) swapped) "module 4 is attention-3in in the file, attention-4in in the model" "cell kind"
            let short = { eleven with Cells = eleven.Cells |> List.map (fun c -> if c.Module = 2 then { c with Nodes = [ c.Nodes.Head ] } else c) }
            Expect.stringContains (refusal (Ablation.modules Ablation11) short) "module 2 (attention-3in) has 1 nodes in the file, 2 in the model" "node count"
            let missing = { eleven with Cells = eleven.Cells |> List.filter (fun c -> c.Module <> 7) }
            Expect.stringContains (refusal (Ablation.modules Ablation11) missing) "module 7 (answer-3in) has no cell" "a cell left out"
            let misnamed = { eleven with Cells = eleven.Cells |> List.map (fun c -> if c.Module = 0 then { c with Nodes = [ { c.Nodes.Head with Op = Sum }; c.Nodes.[1] ] } else c) }
            Expect.stringContains (refusal (Ablation.modules Ablation11) misnamed) "module 0 node 0 names sum but weighs min more" "op against weights"
            Expect.isOk (Genotype.check (Ablation.modules Ablation11) eleven) "the genotype fits its own modules"
            Expect.stringContains (Genotype.ofJson ((Genotype.toJson eleven).Replace("\"Op\": \"choose_2\"", "\"Op\": \"choose_3\"")) |> errorOf) "unknown op 'choose_3'" "an op name"
            // Through the command line: one line naming the file, and no run folder.
            let dir = temporaryDirectory ()
            let file = Path.Combine(dir, "eleven.json")
            File.WriteAllText(file, Genotype.toJson eleven)
            let runDir = Path.Combine(dir, "run")
            let e = config [ "--ablation"; "9"; "--alpha-preset"; file; "--run-dir"; runDir; "--data"; TrainerTests.dataDir.Force() ] |> Result.bind Trainer.run |> errorOf
            Expect.stringStarts e $"--alpha-preset {file}: the file has 11 modules" "the file and what differs"
            Expect.isFalse (e.Contains '\n') "one line"
            Expect.isFalse (Directory.Exists runDir) "nothing written"
            Expect.stringContains (config [ "--alpha-preset"; "tabel6" ] |> errorOf) "--alpha-preset: unknown value 'tabel6'" "a misspelt name is no file"
        }
        test "genotype: a spec holding one round-trips through JSON; old specs with a built-in preset still read" {
            let spec = tinyWith (Written(Genotype.ofPreset FindAttention (Ablation.modules Ablation11)))
            Expect.equal (SpecJson.deserialize<ModelSpec> (SpecJson.serialize spec)) spec "round trip"
            let old = (SpecJson.serialize (NetworkTests.tinySpec Ablation11 Reference)).Replace("\"AlphaPreset\": null", "\"AlphaPreset\": \"PaperTable6\"")
            Expect.equal (SpecJson.deserialize<ModelSpec> old).AlphaPreset (Some PaperTable6) "a spec written before genotypes"
        }
        test "genotype: a run writes genotype.json; --alpha-preset it --alpha-schedule frozen trains that architecture, α unchanged" {
            let first = TrainerTests.freshDir "genotype-search"
            TrainerTests.train first [ "--max-steps"; "3"; "--alpha-warmup"; "0" ] |> ignore
            let path = Path.Combine(first, "genotype.json")
            let searched = File.ReadAllText path |> Genotype.ofJson |> ok
            Expect.equal searched.Cells.Length 10 "LNMN-11's ten cells"
            let start = File.ReadAllText(Path.Combine(first, "genotype-start.json")) |> Genotype.ofJson |> ok
            Expect.equal (snd (Genotype.moved start searched)) 24 "genotype-start.json: the same 24 nodes"
            Expect.isFalse (File.Exists(Path.Combine(first, "alpha-step1.json"))) "the training loop writes no α file"
            // Another seed: had the file been ignored, α would start elsewhere.
            let second = TrainerTests.freshDir "genotype-frozen"
            TrainerTests.train second [ "--alpha-preset"; path; "--alpha-schedule"; "frozen"; "--max-steps"; "3"; "--seed"; "4" ] |> ignore
            let weights (g: Genotype) = [ for c in g.Cells do for n in c.Nodes do yield! n.Weights ] |> Array.ofList
            let expectWeights (g: Genotype) what =
                Expect.equal (g.Cells |> List.map (fun c -> c.Module, [ for n in c.Nodes -> n.Op ])) (searched.Cells |> List.map (fun c -> c.Module, [ for n in c.Nodes -> n.Op ])) $"{what}: the file's ops"
                expectClose 1e-6 (torch.tensor (weights g)) (weights searched) $"{what}: the file's softmax(α)"
            let spec = SpecJson.deserialize<ModelSpec> (File.ReadAllText(Path.Combine(second, "spec.json")))
            Expect.equal spec.AlphaPreset (Some(Written searched)) "spec.json records the genotype"
            use atStart = LnmnNetwork.compile spec
            expectWeights (AlphaReadout.genotype atStart) "at the start"
            expectWeights (File.ReadAllText(Path.Combine(second, "genotype.json")) |> Genotype.ofJson |> ok) "at the end"
        }
    ]
