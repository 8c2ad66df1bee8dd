module Lnmn.Tests.SpecTests
