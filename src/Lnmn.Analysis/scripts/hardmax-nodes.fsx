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
let args = arguments usage 1
let listed =
    match Array.tryFindIndex ((=) "--nodes") args with
    | Some i when i + 1 < args.Length ->
        [ for item in args.[i + 1].Split(',') ->
            match item.Split('.') with
            | [| m; n |] -> int m, int n
            | _ ->
                eprintfn "--nodes: %s is not MODULE.NODE" item
                exit 2 ]
        |> Some
    | Some _ ->
        eprintfn "usage: dotnet fsi %s" usage
        exit 2
    | None -> None
let dataDir =
    let nodesAt = Array.tryFindIndex ((=) "--nodes") args |> Option.defaultValue -2
    args |> Array.indexed |> Array.tryPick (fun (i, a) -> if i >= 1 && i <> nodesAt && i <> nodesAt + 1 then Some a else None)

let outcome =
    result {
        use! loaded = Loaded.openCheckpoint args.[0] dataDir Device.Cpu None
        let! source = Loaded.split loaded "val"
        let network = loaded.Network
        let layout, _ = LnmnNetwork.groupModules network.Spec.Modules
        // (module, node) -> the cell group's α, the cell's index in it and the node's winner.
        let nodes =
            [ for (_, indices), group in List.zip layout network.CellGroups do
                use _ = torch.no_grad ()
                let winners = group.Alpha.argmax(-1L).data<int64>().ToArray()
                let count = CellKind.nodeCount group.Kind
                for cell, moduleIndex in List.indexed indices do
                    for node in 0 .. count - 1 -> (moduleIndex, node), (group.Alpha, cell, node, int winners.[cell * count + node]) ]
            |> Map.ofList
        let chosen =
            match listed with
            | Some xs ->
                for x in xs do
                    if not (nodes.ContainsKey x) then
                        eprintfn "--nodes: module %d has no node %d" (fst x) (snd x)
                        exit 2
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
                let alpha, cell, node, winner = nodes.[key]
                let row = alpha.[int64 cell, int64 node]
                row.fill_(-1e4) |> ignore
                row.[int64 winner].fill_(0.0) |> ignore
        let score () =
            use _ = torch.no_grad ()
            [ for indices in Lnmn.Core.Data.Batching.sequentialBatches 64 source.Examples.Length do
                use _ = torch.NewDisposeScope()
                let b = Training.LabelledBatches.batch loaded.Device source indices
                let predicted = network.Forward(b.Input, NodeOps.NodeEvaluation.soft).Logits.argmax(-1L).data<int64>().ToArray()
                for i, index in Array.indexed indices do
                    let e = source.Examples.[index]
                    let category = e.Category |> Option.map Lnmn.Core.Data.Clevr.Category.name |> Option.defaultValue "(no program)"
                    yield category, (int predicted.[i] = e.Answer) ]
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
                name, score ())
        harden []
        return chosen, runs
    }

let percent (xs: (string * bool) list) = Table.Number(100.0 * float (xs |> List.filter snd |> List.length) / float (max 1 xs.Length), 2)
match outcome with
| Ok (chosen, runs) ->
    printfn "listed nodes: %s\n" (chosen |> List.map (fun (m, n) -> $"{m}.{n}") |> String.concat ", ")
    let categories = snd runs.Head |> List.map fst |> List.distinct |> List.sort
    { Table.Columns = "question type" :: List.map fst runs
      Table.Rows =
        [ Table.Bold(Table.Text "Overall") :: [ for _, s in runs -> percent s ] ]
        @ [ for c in categories -> Table.Text c :: [ for _, s in runs -> percent (s |> List.filter (fun (k, _) -> k = c)) ] ] }
    |> Table.markdown
    |> printfn "%s"
| Error e ->
    eprintfn "%s" e
    exit 1
