// What hard-max costs node by node: validation accuracy with soft α, with the listed nodes made
// one-hot at their winner (the rest soft), with every other node one-hot (the listed ones soft), and
// with every node one-hot. Nodes are MODULE.NODE as alpha.md numbers them; with none listed, the nodes
// whose winner carries under 90% of the node's output (OutputShare, 256 validation questions). With
// more than one node listed, each of them is also made one-hot alone.
//   dotnet fsi src/Lnmn.Analysis/scripts/hardmax-nodes.fsx CHECKPOINT [DATA_DIR] [--nodes 0.0,7.0,...]
#load "load.fsx"
open Load
open TorchSharp
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Analysis
open Lnmn.Train

let usage = "src/Lnmn.Analysis/scripts/hardmax-nodes.fsx CHECKPOINT [DATA_DIR] [--nodes M.N,M.N,...]"
let nodesValue, positional = takeOption "--nodes" usage (arguments usage 1)
if positional.Length = 0 then failUsage $"usage: dotnet fsi {usage}"
let listed = nodesValue |> Option.map (fun value -> [ for item in value.Split(',') -> parseNode "--nodes" item ])

let outcome =
    result {
        use! loaded = Loaded.openCheckpoint positional.[0] (Array.tryItem 1 positional) Device.Cpu None
        let! source = Loaded.split loaded "val"
        let network = loaded.Network
        let nodes = nodeAlphas network
        let chosen =
            match listed with
            | Some xs ->
                for m, n in xs do
                    if not (nodes.ContainsKey(m, n)) then failUsage $"--nodes: module {m} has no node {n}"
                xs
            | None ->
                use _ = torch.NewDisposeScope()
                use _ = torch.no_grad ()
                let batch = Training.LabelledBatches.batch loaded.Device source [| 0 .. min 256 source.Examples.Length - 1 |]
                [ for s in OutputShare.measure network batch.Input do if s.OutputShare < 0.9 then yield s.Module, s.Node ]
        let originals = [ for g in network.CellGroups -> g.Alpha, g.Alpha.detach().clone() ]
        let harden (which: (int * int) list) =
            use _ = torch.no_grad ()
            for a, saved in originals do a.copy_(saved) |> ignore
            for key in which do
                let alpha, cell, node = nodes.[key]
                makeOneHot alpha cell node (int (alpha.[int64 cell, int64 node].argmax().item<int64>()))
        let everyNode = nodes |> Map.toList |> List.map fst
        let others = everyNode |> List.filter (fun n -> not (List.contains n chosen))
        let runs =
            [ "soft α", []
              "listed nodes hard-max", chosen
              "every other node hard-max", others
              "every node hard-max", everyNode ]
            @ (if chosen.Length > 1 then [ for m, n in chosen -> $"{m}.{n} alone", [ (m, n) ] ] else [])
            |> List.map (fun (name, which) ->
                harden which
                name, Scoring.score loaded.Device network NodeOps.NodeEvaluation.soft 64 source)
        harden []
        return chosen, runs
    }

match outcome with
| Ok (chosen, runs) ->
    printfn "listed nodes: %s\n" (chosen |> List.map (fun (m, n) -> $"{m}.{n}") |> String.concat ", ")
    printfn "%s" (Table.markdown (ScoreTables.accuracy runs))
| Error e ->
    eprintfn "%s" e
    exit 1
