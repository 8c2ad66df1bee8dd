module Lnmn.Tests.ExpressionTests

open Expecto
open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Analysis
open Lnmn.Analysis.Expression
open Lnmn.Tests.TestUtil

let private I, a, a1, a2, c = Leaf Image, Leaf AttentionMap, Leaf AttentionMap1, Leaf AttentionMap2, Leaf Text
let private paper e = render Paper (simplify e)

[<Tests>]
let tests =
    testList "expressions" [
        test "choose_1 and choose_2 keep one input" {
            Expect.equal (paper (Node(Choose1, I, a))) "conv_1(I)" "choose_1"
            Expect.equal (paper (Node(Choose2, I, a))) "a" "choose_2"
        }
        test "min and max of an expression with itself are that expression" {
            Expect.equal (paper (Node(Min, Node(Sum, a1, a2), Node(Sum, a2, a1)))) "a_1 + a_2" "min(x, x), x up to commutativity"
            Expect.equal (paper (Node(Max, Node(Choose2, I, a), a))) "a" "max(choose_2(I, a), a) = max(a, a)"
        }
        test "min, max, + and ⊙ commute to one canonical order" {
            for op in [ Min; Max; Sum; Product ] do
                Expect.equal (paper (Node(op, c, I))) (paper (Node(op, I, c))) (NodeOp.name op)
            Expect.equal (paper (Node(Product, c, Node(Max, a, I)))) "max(conv_1(I), a) ⊙ W_1 c_txt" "nested"
        }
        test "what must not simplify stays" {
            Expect.equal (paper (Node(Sum, a, a))) "a + a" "no rule for x + x"
            Expect.equal (paper (Node(Product, a, a))) "a ⊙ a" "no rule for x ⊙ x"
            Expect.equal (paper (Node(Min, a1, a2))) "min(a_1, a_2)" "different inputs"
            Expect.equal (paper (Node(Max, I, Node(Sum, I, a)))) "max(conv_1(I), conv_1(I) + a)" "no absorption"
        }
        test "a 3-input attention cell with choose_2 then product is conv_2(a ⊙ W_1 c_txt), as in paper Table 6" {
            let f = Extraction.formula 0 { Role = Attention; Arity = ThreeInput } [ Choose2, 0.9; Product, 0.8 ]
            Expect.equal f.Paper "conv_2(a ⊙ W_1 c_txt)" "paper notation"
            Expect.equal f.Latex @"\mathrm{conv}_2(a \odot W_1 c_{txt})" "LaTeX"
        }
        test "the other Table 6 rows come out as printed there" {
            let at3, at4 = { Role = Attention; Arity = ThreeInput }, { Role = Attention; Arity = FourInput }
            let an3, an4 = { Role = Answer; Arity = ThreeInput }, { Role = Answer; Arity = FourInput }
            let check kind ops expected = Expect.equal (Extraction.formula 0 kind (ops |> List.map (fun o -> o, 1.0))).Paper expected (string ops)
            check at3 [ Min; Choose2 ] "conv_2(W_1 c_txt)"
            check at3 [ Max; Sum ] "conv_2(max(conv_1(I), a) + W_1 c_txt)"
            check at4 [ Max; Choose2; Product ] "conv_2(max(a_1, a_2) ⊙ W_1 c_txt)"
            check at4 [ Choose2; Max; Product ] "conv_2(max(conv_1(I), a_2) ⊙ W_1 c_txt)"
            check an3 [ Product; Min ] "W_2[Σ min(conv_1(I) ⊙ a, W_1 c_txt), W_1 c_txt, f_mem]"
            check an4 [ Min; Sum; Product ] "W_2[Σ (conv_1(I) + min(a_1, a_2)) ⊙ W_1 c_txt, W_1 c_txt, f_mem]"
        }
        test "answer cells pooled under the map read Σ_a, attention cells as before" {
            let pooled kind ops = Extraction.formulaPooled AttentionWeighted 0 kind (ops |> List.map (fun o -> o, 1.0))
            let an3 = pooled { Role = Answer; Arity = ThreeInput } [ Min; Choose1 ]
            Expect.equal an3.Paper "W_2[Σ_a min(conv_1(I), a), W_1 c_txt, f_mem]" "paper notation"
            Expect.equal an3.Latex @"W_2[\sum_a \min(\mathrm{conv}_1(\mathcal{I}), a), W_1 c_{txt}, f_{mem}]" "LaTeX"
            Expect.equal (pooled { Role = Attention; Arity = ThreeInput } [ Max; Sum ]).Paper "conv_2(max(conv_1(I), a) + W_1 c_txt)" "no sum in attention cells"
        }
        test "weighted-and-describe: the sum beside the gated img map, squared in 4-input cells" {
            let pooled kind ops = Extraction.formulaPooled AttentionWeightedAndDescribe 0 kind (ops |> List.map (fun o -> o, 1.0))
            let an3 = pooled { Role = Answer; Arity = ThreeInput } [ Min; Choose1 ]
            Expect.equal an3.Paper "W_2[Σ_a min(conv_1(I), a), g(c_t) ⊙ Σ_a conv_1(I), W_1 c_txt, f_mem]" "3-input, paper notation"
            Expect.equal an3.Latex @"W_2[\sum_a \min(\mathrm{conv}_1(\mathcal{I}), a), g(c_t) \odot \sum_a \mathrm{conv}_1(\mathcal{I}), W_1 c_{txt}, f_{mem}]" "3-input, LaTeX"
            Expect.equal (pooled { Role = Answer; Arity = FourInput } [ Choose2; Choose2; Choose1 ]).Paper
                "W_2[Σ_a a_2, g(c_t) ⊙ (Σ_a conv_1(I))², W_1 c_txt, f_mem]" "4-input, paper notation"
        }

        test "the table6 α preset compiles to the modules of paper Table 6, and find to Stack-NMN's Find" {
            let formulas preset =
                use net = LnmnNetwork.compile { NetworkTests.tinySpec Ablation11 Reference with AlphaPreset = Some preset }
                let readouts = AlphaReadout.read net
                for r in readouts do Expect.isGreaterThan (List.max r.Weights) 0.999 $"module {r.Module} node {r.Node} starts one-hot"
                readouts
                |> List.groupBy (fun r -> r.Module, r.Kind)
                |> List.map (fun ((m, kind), rs) -> (Extraction.formula m kind [ for r in rs -> r.Winner, List.max r.Weights ]).Paper)
            // Table 6 as printed, up to the order of commutative operands.
            let table6 =
                [ "conv_2(W_1 c_txt)"; "conv_2(max(conv_1(I), a) + W_1 c_txt)"
                  "conv_2(max(a_1, a_2) ⊙ W_1 c_txt)"; "conv_2(max(conv_1(I), a_2) ⊙ W_1 c_txt)"
                  "W_2[Σ min(conv_1(I), a) ⊙ W_1 c_txt, W_1 c_txt, f_mem]"; "W_2[Σ min(conv_1(I) ⊙ a, W_1 c_txt), W_1 c_txt, f_mem]"
                  "W_2[Σ min(conv_1(I) ⊙ min(a_1, a_2), W_1 c_txt), W_1 c_txt, f_mem]"
                  "W_2[Σ (conv_1(I) + min(a_1, a_2)) ⊙ W_1 c_txt, W_1 c_txt, f_mem]" ]
            let paper = formulas PaperTable6
            Expect.equal (List.distinct paper |> List.sort) (List.sort table6) "every Table 6 module, nothing else"
            Expect.equal paper.Length 10 "LNMN-11 has ten cells"
            let find = formulas FindAttention
            Expect.equal (find |> List.take 4 |> List.distinct) [ "conv_2(conv_1(I) ⊙ W_1 c_txt)" ] "3-input attention cells are Find"
            Expect.equal (List.skip 4 find) (List.skip 4 paper) "the other cells as Table 6"
        }

        for kind in CellKind.all do
            test $"the extracted expression equals the hard-max {CellKind.name kind} cell on random inputs" {
                use _ = torch.NewDisposeScope()
                torch.random.manual_seed 21L |> ignore
                let dims = NetworkTests.tinyDims
                let group = new CellGroup.CellGroup(kind, 5, dims)
                use _ = torch.no_grad ()
                // Five cells with random α: the argmax ops differ between cells.
                group.Alpha.copy_(torch.randn([| 5L; int64 (CellKind.nodeCount kind); 6L |]) * 3.0) |> ignore
                let B, H, W, D = 3L, int64 dims.GridHeight, int64 dims.GridWidth, int64 dims.MapDim
                let inputs: CellGroup.CellInputs =
                    { Image = torch.randn(B, H, W, D); TextMap = torch.randn(B, D); Memory = torch.randn(B, int64 dims.MemDim)
                      Attention1 = torch.randn(B, H, W); Attention2 = Some(torch.randn(B, H, W)); Question = torch.randn(B, int64 (ModelDims.questionDim dims)) }
                let module' = group.LastNode(inputs, NodeOps.NodeEvaluation.hardMax)
                let map (m: torch.Tensor) = m.unsqueeze(1L).unsqueeze(-1L)
                let leaves =
                    Map.ofList
                        [ (Image, inputs.Image.unsqueeze(1L))
                          (Text, inputs.TextMap.reshape(B, 1L, 1L, 1L, D))
                          (AttentionMap, map inputs.Attention1)
                          (AttentionMap1, map inputs.Attention1)
                          (AttentionMap2, map inputs.Attention2.Value) ]
                let winners = group.Alpha.argmax(-1L)
                for cell in 0L .. 4L do
                    let ops = [ for n in 0L .. int64 (CellKind.nodeCount kind) - 1L -> NodeOp.all.[int (winners.[cell, n].item<int64>())] ]
                    let e = simplify (ofCell kind.Arity ops)
                    let expected = module'.narrow(1L, cell, 1L)
                    let actual = (Extraction.evaluate leaves e).expand_as(expected)
                    expectAllClose 1e-5 actual expected $"cell {cell}: {render Paper e}"
            }
    ]
