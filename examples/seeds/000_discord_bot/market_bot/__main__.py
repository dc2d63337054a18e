from market_bot.bot import main

main()
