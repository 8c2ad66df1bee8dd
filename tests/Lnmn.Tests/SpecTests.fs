module Lnmn.Tests.SpecTests

open Expecto
open Lnmn.Core.Specs
open Lnmn.Core

let private dims = ModelDims.paper 28 100

[<Tests>]
let tests =
    testList "specs" [
        test "α value counts are 114 / 144 / 192 for ablations 9 / 11 / 14" {
            let count a = ModelSpec.alphaCount (ModelSpec.lnmn a dims)
            Expect.equal (count Ablation9, count Ablation11, count Ablation14) (114, 144, 192) "docs/design.md §2"
        }
        test "ablations list 9 / 11 / 14 modules, NoOp included, nodes 19 / 24 / 32" {
            for a, modules, nodes in [ Ablation9, 9, 19; Ablation11, 11, 24; Ablation14, 14, 32 ] do
                // The paper counts NoOp among the 9, 11 or 14 modules.
                let spec = ModelSpec.lnmn a dims
                Expect.equal spec.Modules.Length modules $"modules of {a}"
                Expect.equal (List.last spec.Modules) NoOp "NoOp last"
                Expect.equal (ModelSpec.nodeCount spec) nodes $"nodes of {a}"
        }
        test "a spec round-trips through JSON" {
            let spec = { ModelSpec.lnmn Ablation14 dims with Stack = Push }
            let json = SpecJson.serialize spec
            Expect.equal (SpecJson.deserialize<ModelSpec> json) spec "round trip"
            Expect.stringContains json "\"Push\"" "fieldless cases are plain strings"
        }
        test "unknown ablation numbers are refused" {
            Expect.isError (Ablation.parse 10) "10 is not an ablation"
            Expect.equal (Ablation.parse 11) (Ok Ablation11) "11 is"
        }
    ]
