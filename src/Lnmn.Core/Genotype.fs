/// The learned architecture as data: a `Genotype` from a preset, checked against a model's modules,
/// turned into α, and written as genotype.json with the ops by name.
module Lnmn.Core.Genotype

open System.Text.Json
open Lnmn.Core.Specs

/// α of a built-in preset's chosen op, the others at 0: softmax weight e^10 / (e^10 + 5) = 0.9998.
let private presetLogit = 10.0

/// A weight below this is read as this, so that α stays finite (a float32 softmax can round a weight to 0).
let private smallestWeight = 1e-12

/// α of one node: log w − min log w. softmax(α) is w / Σw; the lightest op sits at 0, as the built-in
/// presets' unchosen ops do, so a built-in preset written as a genotype gives back its own α.
let logits (node: GenotypeNode) : float list =
    let logs = node.Weights |> List.map (fun w -> log (max w smallestWeight))
    let least = List.min logs
    logs |> List.map (fun l -> l - least)

let private softmax (values: float list) =
    let top = List.max values
    let e = values |> List.map (fun v -> exp (v - top))
    let total = List.sum e
    e |> List.map (fun v -> v / total)

/// A node whose weights are softmax(α).
let private node (alpha: float list) : GenotypeNode =
    let weights = softmax alpha
    { Op = NodeOp.all.[weights |> List.indexed |> List.maxBy snd |> fst]; Weights = weights }

/// The genotype a preset starts the given modules at; a written one is itself.
let ofPreset (preset: AlphaPreset) (modules: ModuleSpec list) : Genotype =
    match preset with
    | Written genotype -> genotype
    | PaperTable6 | FindAttention ->
        let cellOf (index, kind) =
            let cycle = AlphaPreset.ops preset kind
            let position = modules |> List.take index |> List.filter ((=) (Generic kind)) |> List.length
            let nodes = cycle.[position % cycle.Length] |> List.map (fun op -> node [ for o in NodeOp.all -> if o = op then presetLogit else 0.0 ])
            { Module = index; Kind = kind; Nodes = nodes }
        { Modules = modules
          Cells = modules |> List.indexed |> List.choose (fun (i, m) -> match m with Generic k -> Some(cellOf (i, k)) | _ -> None) }

let private checkNode (cell: GenotypeCell) (index: int) (n: GenotypeNode) =
    let where = $"module {cell.Module} node {index}"
    if n.Weights.Length <> NodeOp.all.Length then Error $"{where} has {n.Weights.Length} weights, not {NodeOp.all.Length}"
    elif n.Weights |> List.exists (fun w -> not (System.Double.IsFinite w) || w < 0.0) then Error $"{where} has a weight that is negative or not a number"
    elif List.max n.Weights <= 0.0 then Error $"{where} has no positive weight"
    else
        let heaviest = List.max n.Weights
        if n.Weights.[NodeOp.index n.Op] < heaviest then
            Error $"{where} names {NodeOp.name n.Op} but weighs {NodeOp.name NodeOp.all.[List.findIndex ((=) heaviest) n.Weights]} more"
        else Ok()

let private firstError (checks: (unit -> Result<unit, string>) list) =
    checks |> List.tryPick (fun check -> match check () with Error e -> Some e | Ok() -> None)
    |> Option.map Error |> Option.defaultValue (Ok())

/// Whether the genotype describes these modules: the same module list, one cell per generic module
/// with its kind and node count, weights that make a mixture whose heaviest op is the one named.
/// The error says the first thing that differs.
let check (modules: ModuleSpec list) (genotype: Genotype) : Result<unit, string> =
    let names (ms: ModuleSpec list) = ms |> List.map ModuleSpec.name |> String.concat ", "
    let cellsOf i = genotype.Cells |> List.filter (fun c -> c.Module = i)
    let moduleChecks =
        [ fun () ->
            if genotype.Modules.Length <> modules.Length then
                Error $"the file has {genotype.Modules.Length} modules ({names genotype.Modules}), the model {modules.Length} ({names modules})"
            else Ok()
          fun () ->
            match List.zip genotype.Modules modules |> List.indexed |> List.tryFind (fun (_, (f, m)) -> f <> m) with
            | Some(i, (f, m)) -> Error $"module {i} is {ModuleSpec.name f} in the file, {ModuleSpec.name m} in the model"
            | None -> Ok()
          fun () ->
            match genotype.Cells |> List.tryFind (fun c -> c.Module < 0 || c.Module >= modules.Length || modules.[c.Module] <> Generic c.Kind) with
            | Some c -> Error $"the file has a {CellKind.name c.Kind} cell for module {c.Module}, which the model does not have"
            | None -> Ok() ]
    let cellChecks =
        [ for i, m in List.indexed modules do
            match m with
            | Generic kind ->
                yield fun () ->
                    match cellsOf i with
                    | [ cell ] when cell.Nodes.Length <> CellKind.nodeCount kind ->
                        Error $"module {i} ({CellKind.name kind}) has {cell.Nodes.Length} nodes in the file, {CellKind.nodeCount kind} in the model"
                    | [ cell ] -> firstError [ for j, n in List.indexed cell.Nodes -> fun () -> checkNode cell j n ]
                    | [] -> Error $"module {i} ({CellKind.name kind}) has no cell in the file"
                    | cells -> Error $"module {i} has {cells.Length} cells in the file"
            | NoOp | Hand _ | Concat _ -> () ]
    firstError (moduleChecks @ cellChecks)

/// The cell of module `index`.
let cell (genotype: Genotype) (index: int) = genotype.Cells |> List.find (fun c -> c.Module = index)

/// How many nodes end on another op in `after` than in `before` (the same modules), and how many
/// nodes there are.
let moved (before: Genotype) (after: Genotype) =
    let ops (g: Genotype) = [ for c in g.Cells do for n in c.Nodes -> n.Op ]
    List.map2 (fun b a -> if b <> a then 1 else 0) (ops before) (ops after) |> List.sum, (ops after).Length

// genotype.json: ops, kinds and modules by name; each node's weights in the order "Ops" lists.
type private NodeFile = { Op: string; Weights: float list }
type private CellFile = { Module: int; Kind: string; Nodes: NodeFile list }
type private GenotypeFile = { Ops: string list; Modules: string list; Cells: CellFile list }

let toJson (genotype: Genotype) : string =
    let cellFile (c: GenotypeCell) =
        { Module = c.Module; Kind = CellKind.name c.Kind
          Nodes = [ for n in c.Nodes -> { Op = NodeOp.name n.Op; Weights = n.Weights } ] }
    SpecJson.serialize
        { Ops = List.map NodeOp.name NodeOp.all
          Modules = List.map ModuleSpec.name genotype.Modules
          Cells = List.map cellFile genotype.Cells }

let private named (what: string) (all: 'T list) (name: 'T -> string) (value: string) =
    match all |> List.tryFind (fun x -> name x = value) with
    | Some x -> Ok x
    | None -> Error $"""unknown {what} '{value}' (expected {all |> List.map name |> String.concat ", "})"""

let private sequence (results: Result<'T, string> list) : Result<'T list, string> = Result.traverse id results

/// A genotype from genotype.json's text; the error says what is wrong with it (not yet whether it fits a model: `check`).
let ofJson (json: string) : Result<Genotype, string> =
    let parsed =
        try
            match JsonSerializer.Deserialize<GenotypeFile>(json, SpecJson.options) |> box with
            | null -> Error "not a genotype (the JSON is null)"
            | file -> Ok(unbox<GenotypeFile> file)
        with :? JsonException as e -> Error $"not a genotype ({e.Message})"
    let ofNode (n: NodeFile) = named "op" NodeOp.all NodeOp.name n.Op |> Result.map (fun op -> ({ Op = op; Weights = n.Weights }: GenotypeNode))
    let ofCell (c: CellFile) =
        named "cell kind" CellKind.all CellKind.name c.Kind
        |> Result.bind (fun kind -> c.Nodes |> List.map ofNode |> sequence |> Result.map (fun nodes -> ({ Module = c.Module; Kind = kind; Nodes = nodes }: GenotypeCell)))
    parsed
    |> Result.bind (fun file ->
        if file.Ops <> List.map NodeOp.name NodeOp.all then
            Error $"""its "Ops" must be {NodeOp.all |> List.map NodeOp.name |> String.concat ", "} (the order of every node's weights)"""
        else
            file.Modules |> List.map (named "module" ModuleSpec.all ModuleSpec.name) |> sequence
            |> Result.bind (fun modules -> file.Cells |> List.map ofCell |> sequence |> Result.map (fun cells -> ({ Modules = modules; Cells = cells }: Genotype))))
