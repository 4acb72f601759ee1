[assembly: AssemblyFixture(typeof(Detektor.Testing.PostgresFixture))]
