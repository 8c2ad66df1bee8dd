/// `result { … }` for chains of checks that each may fail with a one-line message.
[<AutoOpen>]
module Lnmn.Core.ResultBuilder

type ResultBuilder() =
    member _.Return(x) = Ok x
    member _.ReturnFrom(r: Result<_, _>) = r
    member _.Bind(r, f) = Result.bind f r
    member _.Zero() = Ok()
    member _.Delay(f: unit -> Result<_, _>) = f
    member _.Run(f: unit -> Result<_, _>) = f ()
    member _.Using(resource: #System.IDisposable, body) =
        try body resource finally resource.Dispose()

let result = ResultBuilder()

module Result =
    /// `f` over `xs` in order, stopping at the first Error: later elements are not tried.
    let traverse (f: 'T -> Result<'U, 'E>) (xs: 'T list) : Result<'U list, 'E> =
        let rec go acc xs =
            match xs with
            | [] -> Ok(List.rev acc)
            | x :: rest ->
                match f x with
                | Ok y -> go (y :: acc) rest
                | Error e -> Error e
        go [] xs
